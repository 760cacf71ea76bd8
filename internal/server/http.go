package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhub/streamhub/web"
)

// routes builds the HTTP mux: the WebSocket and SSE endpoints, the HTTP
// API, health, metrics and the dashboard. docs/openapi.yaml describes every
// route (a test checks it against s.patterns, the mux's patterns).
func (s *Server) routes() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newCollector(s))

	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	handle("GET /v1/ws", s.gateway)
	handle("GET /v1/sse", http.HandlerFunc(s.gateway.ServeSSE))
	handle("GET /v1/last/{subject...}", http.HandlerFunc(s.handleLast))
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.NotReady(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if s.auth != nil {
		handle("POST /v1/tokens", http.HandlerFunc(s.handleToken))
		handle("POST /v1/publish", http.HandlerFunc(s.handlePublish))
		handle("POST /v1/sse/tickets", http.HandlerFunc(s.handleSSETicket))
		s.adminRoutes(handle)
		if s.cfg.Demo {
			handle("POST /v1/demo/token", http.HandlerFunc(s.handleDemoToken))
		}
	}
	if s.auth == nil || !s.cfg.Demo {
		// The dashboard reads 404 as "no demo mode" (the catch-all below
		// would answer a POST with 405).
		handle("/v1/demo/token", http.HandlerFunc(http.NotFound))
	}
	handle("/", web.Handler())
	return mux
}
