package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPageURL(t *testing.T) {
	dir := t.TempDir()
	tls := filepath.Join(dir, "tls.yml")
	auth := filepath.Join(dir, "auth.yml")
	os.WriteFile(tls, []byte("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"), 0o644)
	os.WriteFile(auth, []byte("basic_auth_users:\n  ops: $2y$10$x\n"), 0o644)
	for _, tc := range []struct {
		addr    net.Addr
		webFile string
		want    string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9917}, "", "http://localhost:9917/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9917}, "", "http://localhost:9917/"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001}, "", "http://127.0.0.1:40001/"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9917}, tls, "https://[::1]:9917/"},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 9917}, auth, "http://10.1.2.3:9917/"},
	} {
		if got := pageURL(tc.addr, tc.webFile); got != tc.want {
			t.Errorf("pageURL(%s, %q) = %q, want %q", tc.addr, tc.webFile, got, tc.want)
		}
	}
}

// TestDemoSchedule: the demonstration's queue rises past the critical
// threshold and drains, and its towns exist in fleets of any size.
func TestDemoSchedule(t *testing.T) {
	top, zeros := 0, 0
	for step := range demoQueueSteps + demoQueueRest {
		q := queueAt(step)
		top = max(top, q)
		if q == 0 {
			zeros++
		}
		if step > 0 && step < demoQueueSteps && q <= queueAt(step-1) {
			t.Fatalf("queue at step %d is %d, not above %d", step, q, queueAt(step-1))
		}
	}
	if top <= 50 || zeros != demoQueueRest {
		t.Errorf("top %d (want past 50), %d steps drained (want %d)", top, zeros, demoQueueRest)
	}
	for n, want := range map[int][2]string{
		0: {"", ""}, 1: {"a1", "a1"}, 3: {"a3", "a3"}, 20: {"a3", "a7"},
	} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = "a" + string(rune('1'+i))
		}
		if b, q := demoTowns(ids); b != want[0] || q != want[1] {
			t.Errorf("%d towns: %q, %q; want %q", n, b, q, want)
		}
	}
}
