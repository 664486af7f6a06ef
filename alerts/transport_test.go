package alerts

import (
	"net/http"
	"strconv"
	"strings"
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
		{"a quota of two days is asked about again hourly", 429, http.Header{"X-Sentry-Rate-Limits": {"172800::org"}}, MaxRateLimitPause},
		{"Retry-After no Duration can hold", 429, http.Header{"Retry-After": {"1e300"}}, MaxRateLimitPause},
		{"Retry-After NaN is no number", 429, http.Header{"Retry-After": {"NaN"}}, DefaultRateLimitPause},
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

// FuzzPauseFrom: whatever Sentry's headers say, the pause is between zero
// and MaxRateLimitPause; a 429 always pauses unless a header says 0; a
// Retry-After counts on a 429 only.
func FuzzPauseFrom(f *testing.F) {
	for _, s := range []struct{ limits, retry string }{
		{"", ""}, {"", "17"}, {"", "Sat, 28 Nov 2026 09:02:00 GMT"}, {"", "soon"}, {"60:error:key", ""},
		{"2700::organization:quota_exceeded", ""}, {"60:error;transaction:key, 300:error:org, 900:transaction:org", ""},
		{"900:transaction;session:org", "5"}, {"abc:error, :", ""}, {"", "0"}, {"0::org", ""},
	} {
		f.Add(s.limits, s.retry)
	}
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, limits, retry string) {
		h := http.Header{}
		if limits != "" {
			h.Set("X-Sentry-Rate-Limits", limits)
		}
		if retry != "" {
			h.Set("Retry-After", retry)
		}
		for _, status := range []int{200, 429, 503} {
			d := pauseFrom(h, status, now)
			if d < 0 || d > MaxRateLimitPause {
				t.Fatalf("HTTP %d, limits %q, Retry-After %q: pause %s", status, limits, retry, d)
			}
			if status == 429 && d == 0 && !saysZero(limits, now) && !saysZero(retry, now) {
				t.Fatalf("429 with limits %q, Retry-After %q: no pause", limits, retry)
			}
			if status != 429 && d != pauseFrom(http.Header{"X-Sentry-Rate-Limits": h["X-Sentry-Rate-Limits"]}, status, now) {
				t.Fatalf("HTTP %d: Retry-After %q counted", status, retry)
			}
		}
	})
}

// saysZero reports whether a header value could mean "no wait": a zero, a
// date not in the future, or a quota list holding a zero.
func saysZero(v string, now time.Time) bool {
	for _, part := range strings.Split(v, ",") {
		field, _, _ := strings.Cut(strings.TrimSpace(part), ":")
		if secs, err := strconv.ParseFloat(strings.TrimSpace(field), 64); err == nil && secs == 0 {
			return true
		}
	}
	t, err := http.ParseTime(strings.TrimSpace(v))
	return err == nil && !t.After(now)
}
