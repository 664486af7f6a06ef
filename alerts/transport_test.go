package alerts

import (
	"net/http"
	"testing"
	"time"
)

func TestPauseFrom(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		want   time.Duration
	}{
		{"429 bare", 429, nil, DefaultRateLimitPause},
		{"429 Retry-After seconds", 429, http.Header{"Retry-After": {"17"}}, 17 * time.Second},
		{"429 Retry-After date", 429, http.Header{"Retry-After": {"Sat, 28 Nov 2026 09:02:00 GMT"}}, 2 * time.Minute},
		{"429 Retry-After date in the past", 429, http.Header{"Retry-After": {"Sat, 28 Nov 2026 08:00:00 GMT"}}, 0},
		{"429 Retry-After garbage", 429, http.Header{"Retry-After": {"soon"}}, DefaultRateLimitPause},
		{"rate limits: error quota", 429, http.Header{"X-Sentry-Rate-Limits": {"60:error:key"}}, time.Minute},
		{"rate limits: all categories", 429, http.Header{"X-Sentry-Rate-Limits": {"2700::organization:quota_exceeded"}}, 45 * time.Minute},
		{"rate limits: longest applicable", 429, http.Header{"X-Sentry-Rate-Limits": {"60:error;transaction:key, 300:error:org, 900:transaction:org"}}, 5 * time.Minute},
		{"rate limits: only other categories", 429, http.Header{"X-Sentry-Rate-Limits": {"900:transaction;session:org"}, "Retry-After": {"5"}}, 5 * time.Second},
		{"rate limits on a 200", 200, http.Header{"X-Sentry-Rate-Limits": {"30:error:key"}}, 30 * time.Second},
		{"Retry-After on a 200 ignored", 200, http.Header{"Retry-After": {"30"}}, 0},
		{"503 with Retry-After ignored (backoff applies)", 503, http.Header{"Retry-After": {"30"}}, 0},
		{"rate limits malformed", 429, http.Header{"X-Sentry-Rate-Limits": {"abc:error, :"}}, DefaultRateLimitPause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pauseFrom(tc.header, tc.status, now); got != tc.want {
				t.Errorf("pauseFrom = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for failures, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second, 10: BackoffMax, 1000: BackoffMax,
	} {
		if got := backoff(failures); got != want {
			t.Errorf("backoff(%d) = %s, want %s", failures, got, want)
		}
	}
}
