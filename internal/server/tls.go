package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a TLS handshake looks at the
// certificate files' modification times.
const certCheckInterval = time.Second

// certReloader serves the certificate of a certificate and key file pair
// and follows their renewal (cert-manager, certbot) without a restart:
// a handshake at most once per certCheckInterval compares the files'
// modification times and reloads them when either changed. A pair that
// fails to load (say, caught between the two writes) leaves the previous
// certificate in use and is tried again at the next check. Its methods are
// safe for concurrent use (tls calls GetCertificate from every handshake).
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex // guards the fields below; held only for file reads, never network I/O
	cert    *tls.Certificate
	modTime [2]time.Time // of certFile and keyFile when cert was loaded
	checked time.Time
}

// newCertReloader loads the pair once; a pair that does not load is an
// error here, at startup.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	mods, err := r.modTimes()
	if err != nil {
		return nil, err
	}
	if err := r.load(mods); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) modTimes() ([2]time.Time, error) {
	var mods [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return mods, fmt.Errorf("server: TLS: %w", err)
		}
		mods[i] = fi.ModTime()
	}
	return mods, nil
}

func (r *certReloader) load(mods [2]time.Time) error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("server: TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.modTime = &c, mods
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) < certCheckInterval {
		return r.cert, nil
	}
	r.checked = now
	mods, err := r.modTimes()
	if err != nil {
		r.log.Warn("TLS certificate files unreadable; serving the loaded certificate", "err", err)
		return r.cert, nil
	}
	if mods == r.modTime {
		return r.cert, nil
	}
	if err := r.load(mods); err != nil {
		r.log.Warn("TLS certificate changed but does not load; serving the previous one", "err", err)
		return r.cert, nil
	}
	r.log.Info("TLS certificate reloaded", "cert", r.certFile)
	return r.cert, nil
}

// serverTLSConfig is the hub listener's TLS configuration: TLS 1.2 or
// newer with Go's default (modern, AEAD-only) cipher suites, and
// HTTP/1.1 only, since WebSocket upgrades need it.
func serverTLSConfig(r *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}
