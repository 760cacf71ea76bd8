package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhub/streamhub/web"
)

// routes builds the HTTP mux: the WebSocket endpoint, health, metrics and
// the dashboard.
func (s *Server) routes() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newCollector(s))

	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", s.gateway)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.NotReady(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if s.auth != nil {
		mux.HandleFunc("POST /v1/tokens", s.handleToken)
		mux.HandleFunc("POST /v1/publish", s.handlePublish)
		if s.cfg.Demo {
			mux.HandleFunc("POST /v1/demo/token", s.handleDemoToken)
		}
	}
	if s.auth == nil || !s.cfg.Demo {
		// The dashboard reads 404 as "no demo mode" (the catch-all below
		// would answer a POST with 405).
		mux.HandleFunc("/v1/demo/token", http.NotFound)
	}
	mux.Handle("/", web.Handler())
	return mux
}
