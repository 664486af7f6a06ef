package gastown

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// TLSFilesReload is how often a client whose TLS material comes from files
// (tls_config's ca_file, cert_file, key_file) reads them again, and starts
// using new contents. prometheus/common reads and hashes them on every
// request instead, so that a renewed certificate takes effect at once:
// open, read and close of each file twice per poll, for every town.
const TLSFilesReload = 10 * time.Second

// tlsFiles keeps the client built on the files' contents, inline, and
// rebuilds it when the contents change.
type tlsFiles struct {
	cfg   commoncfg.HTTPClientConfig // as configured, with the files
	every time.Duration
	// checked is when the files were last read, in nanoseconds since
	// start: the monotonic clock, so that a wall clock stepped back (NTP,
	// a resumed VM) does not hold back a rotation.
	checked atomic.Int64
	start   time.Time
	state   atomic.Pointer[tlsState]
}

func (f *tlsFiles) elapsed() int64 { return int64(time.Since(f.start)) }

type tlsState struct {
	client        *http.Client
	err           error // the files could not be read for a reload period: every call fails with it
	ca, cert, key []byte
	failingSince  time.Time // the first failed read of a run, while the last client still serves
}

// newTLSFiles reads the files once; nil when the config names none.
func newTLSFiles(cfg commoncfg.HTTPClientConfig) (*tlsFiles, error) {
	t := cfg.TLSConfig
	if t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	f := &tlsFiles{cfg: cfg, every: TLSFilesReload, start: time.Now()}
	st, err := f.load()
	if err != nil {
		return nil, err
	}
	f.state.Store(st)
	f.checked.Store(f.elapsed())
	return f, nil
}

// client is the HTTP client of the files' current contents.
func (f *tlsFiles) client() (*http.Client, error) {
	now := f.elapsed()
	if last := f.checked.Load(); now-last >= int64(f.every) && f.checked.CompareAndSwap(last, now) {
		f.reload()
	}
	st := f.state.Load()
	return st.client, st.err
}

func (f *tlsFiles) reload() {
	cur := f.state.Load()
	next, err := f.load()
	switch {
	case err != nil:
		// A rotation may write its files one at a time: the last client
		// serves while they cannot be read for less than a reload period,
		// and they are read again each second (at most); after that, calls fail.
		st := *cur
		if st.failingSince.IsZero() {
			st.failingSince = time.Now()
		}
		if time.Since(st.failingSince) >= f.every {
			st.err = err
		}
		f.state.Store(&st)
		f.checked.Store(f.elapsed() + int64(min(time.Second, f.every)-f.every))
	case bytes.Equal(next.ca, cur.ca) && bytes.Equal(next.cert, cur.cert) && bytes.Equal(next.key, cur.key):
		if cur.err != nil || !cur.failingSince.IsZero() {
			f.state.Store(&tlsState{client: cur.client, ca: cur.ca, cert: cur.cert, key: cur.key})
		}
	default:
		f.state.Store(next)
		cur.client.CloseIdleConnections()
	}
}

// load reads the files and builds a client with their contents inline.
func (f *tlsFiles) load() (*tlsState, error) {
	cfg := f.cfg
	t := &cfg.TLSConfig
	st := &tlsState{}
	read := func(path, what string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("target TLS %s: %w", what, err)
		}
		return b, nil
	}
	var err error
	if st.ca, err = read(t.CAFile, "CA file"); err != nil {
		return nil, err
	}
	if st.cert, err = read(t.CertFile, "client certificate file"); err != nil {
		return nil, err
	}
	if st.key, err = read(t.KeyFile, "client key file"); err != nil {
		return nil, err
	}
	if t.CAFile != "" {
		t.CA, t.CAFile = string(st.ca), ""
	}
	if t.CertFile != "" {
		t.Cert, t.CertFile = string(st.cert), ""
	}
	if t.KeyFile != "" {
		t.Key, t.KeyFile = commoncfg.Secret(st.key), ""
	}
	if st.client, err = newHTTPClient(cfg); err != nil {
		return nil, err
	}
	return st, nil
}

// newHTTPClient builds the client of a config on prometheus/common, so
// bearer tokens, basic auth, TLS and proxies work as in every Prometheus
// tool.
func newHTTPClient(cfg commoncfg.HTTPClientConfig) (*http.Client, error) {
	hc, err := commoncfg.NewClientFromConfig(cfg, "gastown")
	if err != nil {
		return nil, fmt.Errorf("target http client: %w", err)
	}
	if hc.CheckRedirect == nil { // follow_redirects: true
		hc.CheckRedirect = sameHostRedirects
	}
	return hc, nil
}
