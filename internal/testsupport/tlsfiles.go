package testsupport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles is a small PKI made for one test: a CA, a server certificate
// for 127.0.0.1, ::1 and localhost, and a client certificate, each as PEM
// files in a temporary directory. Pool trusts the CA.
type TLSFiles struct {
	Dir                   string
	CA                    string // CA certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	Pool                  *x509.CertPool
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	t                     testing.TB
}

// NewTLSFiles makes a fresh CA and the server and client certificates it
// signs, valid for an hour, in t.TempDir().
func NewTLSFiles(t testing.TB) *TLSFiles {
	t.Helper()
	f := &TLSFiles{Dir: t.TempDir(), Pool: x509.NewCertPool(), t: t}
	f.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "streamhub test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.caKey.PublicKey, f.caKey)
	if err != nil {
		t.Fatalf("testsupport: CA certificate: %v", err)
	}
	if f.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	f.Pool.AddCert(f.caCert)
	f.CA = f.write("ca.pem", "CERTIFICATE", der)
	f.ServerCert, f.ServerKey = f.Issue("server", "localhost", x509.ExtKeyUsageServerAuth)
	f.ClientCert, f.ClientKey = f.Issue("client", "streamhub test client", x509.ExtKeyUsageClientAuth)
	return f
}

// Issue signs a new certificate for commonName (a server certificate also
// names 127.0.0.1, ::1 and localhost) and writes it and its key as
// NAME.pem and NAME-key.pem. Re-issuing a name replaces its files.
func (f *TLSFiles) Issue(name, commonName string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	f.t.Helper()
	key := newKey(f.t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(f.t),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, &key.PublicKey, f.caKey)
	if err != nil {
		f.t.Fatalf("testsupport: certificate %s: %v", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.write(name+".pem", "CERTIFICATE", der), f.write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// ClientConfig returns a TLS client configuration that trusts the CA and,
// with withCert, presents the client certificate.
func (f *TLSFiles) ClientConfig(withCert bool) *tls.Config {
	f.t.Helper()
	c := &tls.Config{RootCAs: f.Pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			f.t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

// write writes one PEM block atomically (a reader never sees half a file)
// and returns the file's path.
func (f *TLSFiles) write(name, blockType string, der []byte) string {
	path := filepath.Join(f.Dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
