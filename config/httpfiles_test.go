package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestHTTPClientFiles: every file http_client can name is listed under its
// key, relative paths made relative to the config file's directory.
func TestHTTPClientFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tickwatch.yml")
	const content = `target:
  url: https://g:8788
  http_client:
    oauth2:
      client_id: id
      client_secret_file: oauth-secret
      token_url: https://auth.example/token
      tls_config:
        ca_file: oauth-ca.pem
    tls_config:
      ca_file: /etc/ca.pem
      cert_file: cert.pem
      key_file: key.pem
    http_headers:
      X-B:
        files: [b1, b2]
      X-A:
        files: [a]
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range HTTPClientFiles(cfg.Target.HTTPClient) {
		got = append(got, f.Key+"="+f.Path)
	}
	want := []string{
		"target.http_client.oauth2.client_secret_file=" + dir + "/oauth-secret",
		"target.http_client.oauth2.tls_config.ca_file=" + dir + "/oauth-ca.pem",
		"target.http_client.tls_config.ca_file=/etc/ca.pem",
		"target.http_client.tls_config.cert_file=" + dir + "/cert.pem",
		"target.http_client.tls_config.key_file=" + dir + "/key.pem",
		"target.http_client.http_headers.X-A.files[0]=" + dir + "/a",
		"target.http_client.http_headers.X-B.files[0]=" + dir + "/b1",
		"target.http_client.http_headers.X-B.files[1]=" + dir + "/b2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files:\n%q\nwant\n%q", got, want)
	}

	cfg.Target.HTTPClient.OAuth2 = nil
	cfg.Target.HTTPClient.BearerTokenFile = "/run/token"
	if fs := HTTPClientFiles(cfg.Target.HTTPClient); fs[0] != (File{"target.http_client.bearer_token_file", "/run/token"}) {
		t.Errorf("bearer token file: %v", fs)
	}
}
