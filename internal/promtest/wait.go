package promtest

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// pollEvery is how often Eventually re-checks a condition.
const pollEvery = 200 * time.Millisecond

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent marks an error that no amount of waiting will fix (a process
// exited), so Eventually fails at once.
func Permanent(err error) error { return permanentError{err} }

// Eventually calls cond until it returns nil, and fails the test with cond's
// last error when timeout passes or cond returns a Permanent error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		var perm permanentError
		if errors.As(err, &perm) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %v", what, timeout, err)
		}
		<-tick.C
	}
}

// client bounds every request a helper makes, so a process that accepts a
// connection and never answers fails the wait instead of hanging the test.
var client = &http.Client{Timeout: 10 * time.Second}
