package gastown

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// gzipBomb is 16 MiB of JSON whitespace inside a {"alarmStatus": ...}
// object, gzipped to about 16 KiB.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write([]byte(`{"alarmStatus":`))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 16 {
		zw.Write(chunk)
	}
	zw.Write([]byte(`{}}`))
	zw.Close()
	return b.Bytes()
}

// TestHostileTarget: whatever a worker (or what stands in front of it)
// does, one call ends within its timeout with an error that says what
// happened, having held at most a few times max_body_bytes of memory.
func TestHostileTarget(t *testing.T) {
	const maxBody, timeout = 64 << 10, time.Second
	bomb := gzipBomb(t)
	var elsewhere atomic.Int64 // requests that reached the other host
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write(sample(t, "status.json"))
	}))
	defer other.Close()

	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"alarmStatus":"`))
			chunk := bytes.Repeat([]byte("a"), 32<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, fmt.Sprintf(`status of town "t": body larger than %d bytes`, maxBody)},
		// The client asks for no compression and inflates nothing: the
		// bomb is read as the 16 KiB it is, and is no JSON.
		{"gzip bomb", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb)
		}, `status of town "t": malformed JSON: invalid character '\x1f'`},
		{"slowloris headers", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\n")
			for i := 0; ; i++ { // one byte of an endless header every 20 ms
				if buf.WriteByte("X-Slow: aaaa"[i%12]) != nil || buf.Flush() != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}, "context deadline exceeded"},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, "stopped after 10 redirects"},
		{"redirect to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}, "redirect to another host (http://" + strings.TrimPrefix(other.URL, "http://") + ") refused"},
		{"huge error text", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"success":false,"error":"%s"}`, strings.Repeat("bad gateway ", 4000))
		}, `status of town "t": HTTP 502: bad gateway bad gateway`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := client(t, srv.URL, func(o *ClientOptions) {
				o.MaxBodyBytes, o.Timeout = maxBody, timeout
				o.HTTPClient.BasicAuth = &commoncfg.BasicAuth{Username: "tickwatch", Password: "hunter2-basic"}
			})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := c.Status(context.Background(), "t")
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
			// Generous bounds for a loaded machine; what they catch is a
			// call that never ends or a body read whole.
			if took > 10*timeout {
				t.Errorf("the call took %s with a %s timeout", took, timeout)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*maxBody {
				t.Errorf("the call allocated %d bytes with max_body_bytes %d", alloc, maxBody)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host got %d requests, and with them the credentials", n)
	}
}

// TestRedirectWithinTheWorker: a redirect on the worker's own host is
// followed, credentials and all.
func TestRedirectWithinTheWorker(t *testing.T) {
	var auth string
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/t/status": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v2/debug/towns/t/status", http.StatusMovedPermanently)
		},
		"GET /v2/debug/towns/t/status": func(w http.ResponseWriter, r *http.Request) {
			auth = r.Header.Get("Authorization")
			w.Write(sample(t, "status.json"))
		},
	})
	c := client(t, srv.URL, func(o *ClientOptions) {
		o.HTTPClient.BasicAuth = &commoncfg.BasicAuth{Username: "u", Password: "p"}
	})
	if _, err := c.Status(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Errorf("credentials after the redirect: %q", auth)
	}
}

// TestErrorTextHidesSecrets: a worker (or a proxy) that echoes the request
// into its error page does not get the credentials onto the status page.
func TestErrorTextHidesSecrets(t *testing.T) {
	const password, token, cfSecret, urlPassword = "hunter2-basic", "tok-bearer-42", "cf-access-secret-7", "url-pass-9"
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"success":false,"error":"Unauthorized: Authorization=%s Cf-Access-Client-Secret=%s"}`,
			r.Header.Get("Authorization"), r.Header.Get("Cf-Access-Client-Secret"))
	}
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){"GET /debug/towns/t/status": echo})
	cf := &commoncfg.Headers{Headers: map[string]commoncfg.Header{
		"Cf-Access-Client-Id":     {Values: []string{"client-id"}},
		"Cf-Access-Client-Secret": {Secrets: []commoncfg.Secret{cfSecret}},
	}}
	for name, hc := range map[string]commoncfg.HTTPClientConfig{
		"basic auth and Cloudflare Access": {BasicAuth: &commoncfg.BasicAuth{Username: "tickwatch", Password: password}, HTTPHeaders: cf, FollowRedirects: true},
		"bearer token":                     {Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: token}, FollowRedirects: true},
	} {
		t.Run(name, func(t *testing.T) {
			url := strings.Replace(srv.URL, "http://", "http://viewer:"+urlPassword+"@", 1)
			c := client(t, url, func(o *ClientOptions) { o.HTTPClient = hc })
			_, err := c.Status(context.Background(), "t")
			if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "<secret>") {
				t.Fatalf("error %v, want a 401 with the secrets hidden", err)
			}
			for _, s := range []string{password, token, cfSecret, urlPassword, base64.StdEncoding.EncodeToString([]byte("tickwatch:" + password))} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows %q: %v", s, err)
				}
			}
		})
	}
}

// TestCallErrorsAsHTTPClientWordsThem: a call that gets no answer says so
// in http.Client's words, with a password in the URL hidden the same way.
func TestCallErrorsAsHTTPClientWordsThem(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := strings.Replace(srv.URL, "http://", "http://viewer:pa55@", 1)
	srv.Close() // nobody listens there any more
	c := client(t, base, nil)
	_, err := c.Status(context.Background(), "t")
	_, want := http.Get(base + "/debug/towns/t/status")
	if err == nil || want == nil || err.Error() != `status of town "t": `+want.Error() {
		t.Fatalf("error %v, want the town and call, then %v", err, want)
	}
	if strings.Contains(err.Error(), "pa55") {
		t.Errorf("error shows the password: %v", err)
	}
}

// TestRedirectNotFollowed: with follow_redirects off, a redirect is the
// answer, and the worker is asked once.
func TestRedirectNotFollowed(t *testing.T) {
	var asked atomic.Int64
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/t/status": func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			http.Redirect(w, r, "/v2/debug/towns/t/status", http.StatusFound)
		},
	})
	c := client(t, srv.URL, func(o *ClientOptions) { o.HTTPClient.FollowRedirects = false })
	_, err := c.Status(context.Background(), "t")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusFound {
		t.Fatalf("error %v, want the 302 as the answer", err)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("the worker was asked %d times", n)
	}
}

// TestOutsizedAnswerLeavesNoBigBuffer: the buffer an answer near the body
// limit grew is not kept for later polls, where each poll in flight would
// hold one. (The race detector's pool drops some buffers at random: there
// the test may see a fresh one, never a big one.)
func TestOutsizedAnswerLeavesNoBigBuffer(t *testing.T) {
	big := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 900<<10)...)
	big = append(big, `"}`...)
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/t/status": body(big, 200),
	})
	c := client(t, srv.URL, nil)
	if o := c.Poll(context.Background(), "t", PollOptions{Status: true}, time.Now); !o.StatusCall.OK() {
		t.Fatalf("poll of a 900 KiB answer: %v", o.StatusCall.Err)
	}
	buf := bodyBuffers.Get().(*bodyBuffer)
	defer bodyBuffers.Put(buf)
	if buf.Cap() > maxPooledBody {
		t.Errorf("the pool kept a buffer of %d bytes (at most %d)", buf.Cap(), maxPooledBody)
	}
}
