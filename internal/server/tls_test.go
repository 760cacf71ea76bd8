package server

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// With --tls-cert and --tls-key the hub serves WebSocket clients over TLS
// (wss://), refuses TLS older than 1.2 and plain HTTP on that port, and
// picks up a renewed certificate without a restart.
func TestHubServesTLSAndReloadsItsCertificate(t *testing.T) {
	pki := testsupport.NewTLSFiles(t)
	s := startHub(t, func(c *Config) {
		fastDemo(c)
		c.TLSCertFile, c.TLSKeyFile = pki.ServerCert, pki.ServerKey
	})
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(false)}}
	t.Cleanup(httpsClient.CloseIdleConnections)

	// A real WebSocket client over TLS gets hello and ticks.
	c, err := dialConn(t, s, protocol.SubprotocolJSON, &websocket.DialOptions{HTTPClient: httpsClient})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	t.Cleanup(func() { _ = c.conn.CloseNow() })
	if m := c.next(5 * time.Second); m.Op != protocol.OpHello {
		t.Fatalf("first frame %q, want hello", m.Op)
	}
	c.subscribe(protocol.Command{}, "ticks.>")
	if evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 }); !allHavePrefix(evs, "ticks.") {
		t.Fatalf("over TLS: %v", subjectsOf(evs))
	}
	// The dashboard's own origin is https now: a browser on it may
	// upgrade, one claiming the http origin may not.
	_, p, _ := net.SplitHostPort(s.Addr())
	for origin, ok := range map[string]bool{"https://127.0.0.1:" + p: true, "http://127.0.0.1:" + p: false} {
		b, err := dialConn(t, s, protocol.SubprotocolJSON, &websocket.DialOptions{HTTPClient: httpsClient, HTTPHeader: http.Header{"Origin": {origin}}})
		if (err == nil) != ok {
			t.Errorf("upgrade from origin %s: %v, want allowed=%v", origin, err, ok)
		}
		if err == nil {
			_ = b.conn.CloseNow()
		}
	}

	// TLS 1.1 is refused; plain HTTP gets no answer a client could take.
	old := pki.ClientConfig(false)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if conn, err := tls.Dial("tcp", s.Addr(), old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	if resp, err := http.Get("http://" + s.Addr() + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP /readyz answered 200 on the TLS listener")
		}
	}

	// Renewal: a new certificate in the same files is served within
	// seconds, and the old connection carries on.
	first := servedSerial(t, s, pki)
	pki.ServerCert, pki.ServerKey = pki.Issue("server", "localhost", x509.ExtKeyUsageServerAuth)
	testsupport.WaitFor(t, "the renewed certificate to be served", 15*time.Second, func() bool {
		return servedSerial(t, s, pki) != first
	})
	c.alive()
}

// servedSerial returns the serial number of the certificate the hub
// presents in a new handshake.
func servedSerial(t *testing.T, s *Server, pki *testsupport.TLSFiles) string {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr(), pki.ClientConfig(false))
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// A certificate without its key, or one that does not load, stops the hub
// before it serves, saying which.
func TestHubTLSMisconfigurationIsRefused(t *testing.T) {
	pki := testsupport.NewTLSFiles(t)
	for _, cfg := range []Config{
		{TLSCertFile: pki.ServerCert},
		{TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ClientKey}, // another key
	} {
		cfg.Listen, cfg.NATSListen, cfg.DataDir, cfg.InsecureNoAuth = "127.0.0.1:0", "127.0.0.1:-1", t.TempDir(), true
		s, err := Start(t.Context(), cfg)
		if err == nil {
			_ = s.Shutdown(t.Context())
			t.Fatalf("%+v: started", cfg)
		}
		if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("error %q does not say TLS", err)
		}
	}
}
