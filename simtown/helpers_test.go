package simtown

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// clock is an injected time source the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func newFleet(t testing.TB, opts Options) (*Fleet, *clock) {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Towns == 0 {
		opts.Towns = 1
	}
	f, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f, c
}

// run advances the clock in one-second steps for d, ticking due towns.
func run(t testing.TB, f *Fleet, c *clock, d time.Duration) {
	t.Helper()
	for end := c.Now().Add(d); c.Now().Before(end); {
		if _, err := f.runDue(c.Advance(time.Second)); err != nil {
			t.Fatalf("runDue: %v", err)
		}
	}
}

// digests hashes every row of every table of the town, in rowid order.
func digests(t testing.TB, tw *town) map[string]string {
	t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tables, err := tw.st.strings(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tbl := range tables {
		rows, err := tw.conn.QueryContext(tw.st.ctx, `SELECT * FROM `+tbl+` ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		h := sha256.New()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%#v\n", vals)
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[tbl] = fmt.Sprintf("%d rows %s", n, hex.EncodeToString(h.Sum(nil))[:16])
	}
	return out
}

func pending(t testing.TB, tw *town) int {
	t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	n, err := tw.st.pendingCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// call sends one request to the fleet's handler and returns code and body.
func call(t testing.TB, h http.Handler, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, path, r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func viol(inv int, msg string) gastown.Violation {
	return gastown.Violation{Invariant: inv, Message: msg}
}
