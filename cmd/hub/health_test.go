package main

import "testing"

// hub health without --url asks where hub serve listens, on loopback when
// it listens on every interface.
func TestHealthURLFromListenAddress(t *testing.T) {
	for listen, want := range map[string]string{
		"":                "http://127.0.0.1:8080",
		"0.0.0.0:8080":    "http://127.0.0.1:8080",
		"[::]:9090":       "http://127.0.0.1:9090",
		":7070":           "http://127.0.0.1:7070",
		"10.1.2.3:8080":   "http://10.1.2.3:8080",
		"hub.example:443": "http://hub.example:443",
	} {
		if got, err := listenURL(listen); err != nil || got != want {
			t.Errorf("listenURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := listenURL("no-port"); err == nil {
		t.Error("listenURL accepted an address without a port")
	}
}
