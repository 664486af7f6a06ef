package gastown

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSFilesAreReadAgain: a CA file is read when the client is built and
// again every reload interval (here: every call), so a renewed CA takes
// effect without a restart, and one that cannot be read fails the calls
// with a clear error until it can.
func TestTLSFilesAreReadAgain(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(sample(t, "status.json")) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCA := func(der []byte) {
		t.Helper()
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCA(otherCA(t)) // not the server's
	c := client(t, srv.URL, func(o *ClientOptions) { o.HTTPClient.TLSConfig.CAFile = ca })
	if c.tls == nil {
		t.Fatal("a client with a CA file keeps no reloadable TLS state")
	}
	c.tls.every = 0
	if _, err := c.Status(context.Background(), "t"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with another server's CA: %v", err)
	}
	writeCA(srv.Certificate().Raw)
	if _, err := c.Status(context.Background(), "t"); err != nil {
		t.Fatalf("after the CA file was renewed: %v", err)
	}
	os.Remove(ca)
	if _, err := c.Status(context.Background(), "t"); err == nil || !strings.Contains(err.Error(), `status of town "t": target TLS CA file: open `+ca) {
		t.Fatalf("without the CA file: %v", err)
	}
	writeCA(srv.Certificate().Raw)
	if _, err := c.Status(context.Background(), "t"); err != nil {
		t.Fatalf("with the CA file back: %v", err)
	}
}

// otherCA is a self-signed CA certificate that signed nothing the test
// servers show.
func otherCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestTLSFilesReadOncePerInterval: between reloads the client does not
// touch the files (prometheus/common would read them on every request).
func TestTLSFilesReadOncePerInterval(t *testing.T) {
	c, ca := tlsClientWithCAFile(t)
	os.Remove(ca) // within the interval, nobody notices
	for range 3 {
		if _, err := c.Status(context.Background(), "t"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSFilesMidRotation: files that cannot be read at a reload (a
// rotation writing them one at a time) leave the last client serving for
// a reload period, read again each second; only then do calls fail.
func TestTLSFilesMidRotation(t *testing.T) {
	c, ca := tlsClientWithCAFile(t)
	c.tls.every = time.Hour
	os.Remove(ca)
	c.tls.checked.Store(-int64(c.tls.every)) // a reload is due
	if _, err := c.Status(context.Background(), "t"); err != nil {
		t.Fatalf("a call just after a failed reload: %v, want the last client's answer", err)
	}
	if next := time.Duration(c.tls.checked.Load() + int64(c.tls.every) - c.tls.elapsed()); next > time.Second {
		t.Errorf("next read of the files in %v, want within a second", next)
	}
	// Failing for a whole reload period: the calls say why.
	st := *c.tls.state.Load()
	st.failingSince = time.Now().Add(-time.Hour)
	c.tls.state.Store(&st)
	c.tls.checked.Store(-int64(c.tls.every))
	if _, err := c.Status(context.Background(), "t"); err == nil || !strings.Contains(err.Error(), "target TLS CA file") {
		t.Fatalf("after a reload period without the file: %v", err)
	}
}

// tlsClientWithCAFile is a client of a TLS test server, trusting it
// through a CA file; the file's path is returned.
func tlsClientWithCAFile(t *testing.T) (*Client, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(sample(t, "status.json")) }))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return client(t, srv.URL, func(o *ClientOptions) { o.HTTPClient.TLSConfig.CAFile = ca }), ca
}
