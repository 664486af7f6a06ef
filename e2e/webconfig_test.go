package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/internal/promtest"
)

const (
	webUser     = "prometheus"
	webPassword = "scrape-pass-3a9f"
	// bcrypt (cost 10) of webPassword, as exporter-toolkit wants it.
	webPasswordHash = "$2a$10$676ux5BnIPyTqdJxKFeY8uIdcA0YPEbfObLjd5vY8/Z2cHN3nU9Vm"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tickwatch"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// TestWebConfigProtectsEveryEndpoint runs `tickwatch run` with a
// --web.config.file of TLS and basic auth: the metrics, both status views
// and POST /-/reload answer only over TLS and only with the password.
func TestWebConfigProtectsEveryEndpoint(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	web := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  " + webUser + ": " + webPasswordHash + "\n"
	os.WriteFile(filepath.Join(dir, "web.yml"), []byte(web), 0o600)
	os.WriteFile(filepath.Join(dir, "tickwatch.yml"), []byte("dedupe:\n  state_dir: data\n"), 0o600)
	p := promtest.StartIn(t, dir, promtest.Tickwatch(t), "run", "--config.file=tickwatch.yml", "--web.config.file=web.yml",
		"--web.listen-address=127.0.0.1:0", "--simtown.towns=2", "--log.format=logfmt")
	addr := p.WaitOutput(t, regexp.MustCompile(`msg="Listening on" address=(\S+)`), 30*time.Second)[1]
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	call := func(c *http.Client, method, url, user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, ep := range []struct{ method, path, want string }{
		{http.MethodGet, "/metrics", "tickwatch_build_info"},
		{http.MethodGet, "/status.json", `"towns":`},
		{http.MethodGet, "/", `<table class="towns" id="towns">`},
		{http.MethodPost, "/-/reload", "Reloaded"},
	} {
		url := "https://" + addr + ep.path
		if code, _ := call(tlsClient, ep.method, url, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d, want 401", ep.method, ep.path, code)
		}
		if code, _ := call(tlsClient, ep.method, url, webUser, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong password: %d, want 401", ep.method, ep.path, code)
		}
		if code, body := call(tlsClient, ep.method, url, webUser, webPassword); code != http.StatusOK || !strings.Contains(body, ep.want) {
			t.Errorf("%s %s with the password: %d, want 200 with %q", ep.method, ep.path, code, ep.want)
		}
		// Plain HTTP, even with the password, gets Go's TLS refusal.
		code, body := call(http.DefaultClient, ep.method, "http://"+addr+ep.path, webUser, webPassword)
		if code != http.StatusBadRequest || strings.Contains(body, ep.want) {
			t.Errorf("%s %s over plain HTTP: %d %q, want 400 and nothing served", ep.method, ep.path, code, body)
		}
	}
	if out := p.Output(); !strings.Contains(out, `msg="configuration reloaded"`) || strings.Contains(out, webPassword) {
		t.Errorf("log: reload not logged, or the password shown:\n%s", out)
	}
}
