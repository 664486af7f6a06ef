package gastown

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestPollDecoderIsEncodingJSON: on the corners of encoding/json's
// semantics, the poll's decoder yields what encoding/json yields into the
// same types, or fails where it fails.
func TestPollDecoderIsEncodingJSON(t *testing.T) {
	status := []string{
		`null`,
		`{}`,
		` {"alarmStatus":null} `,
		`{"AlarmStatus":{"AGENTS":{"Working":3}}}`,
		`{"alarmſtatus":{"agents":{"working":1}}}`, // U+017F folds to s
		`{"alarm\u0053tatus":{"agents":{"w\u006frking":2}}}`,
		`{"alarmStatus":{"agents":{"working":1}},"alarmStatus":{"beads":{"open":2}}}`, // merged
		`{"alarmStatus":{"agents":{"working":1,"working":null}}}`,
		`{"alarmStatus":{"reconciler":{"eventsDrained":1},"reconciler":{"actionsEmitted":2}}}`,
		`{"alarmStatus":{"reconciler":{"eventsDrained":1},"reconciler":null}}`,
		`{"alarmStatus":{"reconciler":{"actionsByType":{"a":1}},"reconciler":{"actionsByType":{"b":2,"a":null}}}}`,
		`{"alarmStatus":{"reconciler":{"actionsByType":{"a":1,"a":3},"actionsByType":null}}}`,
		`{"alarmStatus":{"reconciler":{"wallClockMs":1e3,"pendingEventCount":-0}}}`,
		`{"alarmStatus":{"reconciler":{"wallClockMs":1e400}}}`,
		`{"alarmStatus":{"reconciler":{"wallClockMs":-1.5e-400}}}`,
		`{"alarmStatus":{"agents":{"working":9223372036854775807,"idle":-9223372036854775808}}}`,
		`{"alarmStatus":{"agents":{"working":9223372036854775808}}}`,
		`{"alarmStatus":{"agents":{"working":1.0}}}`,
		`{"alarmStatus":{"agents":{"working":1e2}}}`,
		`{"alarmStatus":{"agents":{"working":"1"}}}`,
		`{"alarmStatus":{"agents":{"working":true}}}`,
		`{"alarmStatus":{"agents":[]}}`,
		`{"alarmStatus":{"agents":{"working":01}}}`,
		`{"alarmStatus":{"alarm":{"nextFireAt":"2026-11-28T09:00:05.000Z","intervalMs":5000,"intervalLabel":"a\"b\\c\u00e9\ud83d\ude00\ud800x"}}}`,
		`{"alarmStatus":{"alarm":{"nextFireAt":"2026-11-28T09:00:05\u002e000Z"}}}`,
		`{"alarmStatus":{"alarm":{"nextFireAt":"2026-11-28T09:00:05Z","nextFireAt":null}}}`,
		`{"alarmStatus":{"alarm":{"nextFireAt":5}}}`,
		`{"alarmStatus":{"alarm":{"nextFireAt":{}}}}`,
		`{"agentMeta":[{"bead_id":"a","status":"working","current_hook_bead_id":null},{"bead_id":"b","current_hook_bead_id":"x"}]}`,
		`{"agentMeta":[{"bead_id":"a","status":"working"},{"bead_id":"b"}],"agentMeta":[{"status":"idle"}]}`,
		`{"agentMeta":[{"bead_id":"a"},{"bead_id":"b"}],"agentMeta":[{"status":"idle"}],"agentMeta":[null,{}]}`,
		`{"agentMeta":[],"beadSummary":null}`,
		`{"agentMeta":[1]}`,
		`{"agentMeta":{}}`,
		`{"beadSummary":[{"bead_id":"m","type":"merge_request","status":"in_progress","rig_id":"r","rig_id":"s","Rig_ID":null}]}`,
		`{"beadSummary":[{"bead_id":"m","type":"merge_request","rig_id":"r"},{"rig_id":7}]}`,
		`{"x":[1,{"y":[true,false,null,"\u0000"]},-0.5e+7],"alarmStatus":{}}`,
		`{"x":-}`, `{"x":1.}`, `{"x":.5}`, `{"x":1e}`, `{"x":tru}`, `{"x":"\x"}`, `{"x":"\u12"}`, "{\"x\":\"\t\"}",
		`{"x":1}x`, `{"x":1} {}`, `[]`, `"s"`, `5`, `{"a" 1}`, `{"a":1,}`, `{,}`, `[`, `{"alarmStatus":{"agents":{"working":1}`,
		`{"alarmStatus":{"agents":{"working":1}}`, `{"alarmStatus":"`, ``, ` `,
		strings.Repeat(`{"x":`, 10001) + `1` + strings.Repeat(`}`, 10001),
		strings.Repeat(`[`, 20000),
	}
	sameAsEncodingJSON(t, status, decodeStatusPart)
	dryRun := []string{
		`{"actions":[{"type":"x"}],"metrics":{"actionsEmitted":1,"actionsByType":{"x":1},"pendingEventCount":2,"eventsDrained":3}}`,
		`{"violations":[]}`,
		`{"violations":null}`,
		`{"violations":[{"invariant":7,"message":"m","Source":"x","-":1}]}`,
		`{"violations":[{"invariant":7,"message":"m"}],"violations":[{"invariant":3}]}`,
		`{"violations":[{"invariant":"7"}]}`,
		`{"Metrics":{"ACTIONSBYTYPE":{"x":null}}}`,
		`{"metrics":{"actionsByType":{"x":"1"}}}`,
		`{"metrics":{"actionsByType":[]}}`,
	}
	sameAsEncodingJSON(t, dryRun, decodeDryRunPart)
}

// sameAsEncodingJSON: decode reads each body as encoding/json does: the
// same error or none, and the same value.
func sameAsEncodingJSON[T any](t *testing.T, bodies []string, decode func([]byte, *T) error) {
	t.Helper()
	for _, body := range bodies {
		var got, want T
		gotErr := decode([]byte(body), &got)
		wantErr := json.Unmarshal([]byte(body), &want)
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%.80s: error %v, encoding/json's %v", body, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%.80s:\n got %+v\nwant %+v", body, got, want)
		}
	}
}
