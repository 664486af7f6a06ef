package promtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPagerDutyAnswersLikeEventsV2 checks the local PagerDuty: what it
// accepts is recorded and answered 202, what PagerDuty would refuse is
// answered 400 (or 404 off its path) and kept out of Received.
func TestPagerDutyAnswersLikeEventsV2(t *testing.T) {
	const key = "K3Y00000000000000000000000000000"
	trigger := `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"d1","payload":{"summary":"s","source":"src","severity":"critical","custom_details":{"town":"town-a"}}}`
	for _, tc := range []struct {
		name, method, path, contentType, body string
		wantCode                              int
		wantBody                              string
		wantReceived                          int
	}{
		{"trigger", "POST", "/v2/enqueue", "application/json", trigger, 202, `{"status":"success","message":"Event processed","dedup_key":"d1"}`, 1},
		{"resolve needs no payload", "POST", "/v2/enqueue", "application/json", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"d1"}`, 202, `{"status":"success","message":"Event processed","dedup_key":"d1"}`, 1},
		{"wrong routing key", "POST", "/v2/enqueue", "application/json", strings.Replace(trigger, key, "other", 1), 400, "routing_key is invalid", 0},
		{"unknown action", "POST", "/v2/enqueue", "application/json", strings.Replace(trigger, `"trigger"`, `"page"`, 1), 400, "event_action is invalid", 0},
		{"no dedup key", "POST", "/v2/enqueue", "application/json", strings.Replace(trigger, `"d1"`, `""`, 1), 400, "dedup_key is missing", 0},
		{"trigger without source", "POST", "/v2/enqueue", "application/json", strings.Replace(trigger, `"source":"src",`, "", 1), 400, "payload.summary, payload.source and payload.severity are required", 0},
		{"not JSON", "POST", "/v2/enqueue", "application/json", `{"routing_key":`, 400, "decode", 0},
		{"form body", "POST", "/v2/enqueue", "application/x-www-form-urlencoded", trigger, 400, "content type", 0},
		{"v1 path", "POST", "/generic/2010-04-15/create_event.json", "application/json", trigger, 404, "want POST /v2/enqueue", 0},
		{"GET", "GET", "/v2/enqueue", "application/json", "", 404, "want POST /v2/enqueue", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd := NewPagerDuty(t, key)
			req, err := http.NewRequest(tc.method, strings.TrimSuffix(pd.URL, "/v2/enqueue")+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("answer %d %q, want %d containing %q", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
			if got := len(pd.Received()); got != tc.wantReceived {
				t.Errorf("received %d events, want %d", got, tc.wantReceived)
			}
			if got := len(pd.Rejected()); got != 1-tc.wantReceived {
				t.Errorf("rejected %d requests, want %d", got, 1-tc.wantReceived)
			}
			if tc.wantReceived == 1 && tc.name == "trigger" {
				e := pd.Received()[0]
				if e.Payload.CustomDetails["town"] != "town-a" || e.Payload.Severity != "critical" {
					t.Errorf("recorded %+v", e)
				}
			}
		})
	}
}
