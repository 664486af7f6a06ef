package gastown

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
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
		// Containers the walk skips, valid and not, to the depth limit.
		`{"x":{},"y":[],"z":{ },"w":[ ],"alarmStatus":{"agents":{"idle":1}}}`,
		`{"x":{"a":[1,{"b":{}},[[]],"s\"]"],"c":{"d":null}},"agentMeta":[{"bead_id":"a","x":[{"y":[]}],"status":"idle"}]}`,
		` { "x" : [ 1 , { "a" : "b" } , [ ] ] , "alarmStatus" : { "x" : { } , "beads" : { "open" : 2 } } } `,
		`{"x":{"a\n\u00e9":1}}`,
		`{"x":{"a"}}`, `{"x":{"a":1 "b":2}}`, `{"x":[1 2]}`, `{"x":[1,]}`, `{"x":{"a":1,}}`, `{"x":{1:2}}`,
		`{"x":[}`, `{"x":{]}`, `{"x":[1}`, `{"x":{"a":1]}`, `{"x":{"a\u":1}}`, `{"x":{"a":}}`, `{"x":[,1]}`,
		`{"x":[nul]}`, `{"x":{"a":[1,2}}`, `{"x":{"a":1}`, `{"x":[`, `{"x":{"a"`, `{"x":{"a":"`,
		`{"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`, // 10,000 deep: the limit
		`{"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
		`{"x":` + strings.Repeat(`{"a":`, 9998) + `[]` + strings.Repeat(`}`, 9998) + `}`,
		`{"x":` + strings.Repeat(`{"a":`, 9999) + `[]` + strings.Repeat(`}`, 9999) + `}`,
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

// TestSpecialFindsEveryStopByte: the eight-byte test marks, as its lowest
// mark, exactly the first quote, backslash or control byte, in any
// position, next to any other byte, and marks nothing without one.
func TestSpecialFindsEveryStopByte(t *testing.T) {
	stops := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	var w [8]byte
	for pos := range 8 {
		for _, fill := range []byte{' ', 'a', 0x7f, 0x80, 0xff, '!', '#', '[', ']', '"', 0x1f} {
			for c := range 256 {
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := slices.IndexFunc(w[:], stops)
				if want < 0 {
					want = 8
				}
				if got := bits.TrailingZeros64(special(binary.LittleEndian.Uint64(w[:]))) / 8; got != want {
					t.Fatalf("%q: first stop at %d, want %d", w, got, want)
				}
			}
		}
	}
}

// TestInternKeepsOneCopy: a word interned twice is one string, also after
// the published words are replaced; past the bound a word is still itself.
func TestInternKeepsOneCopy(t *testing.T) {
	first := intern([]byte("intern-test-word"))
	for i := range 40 { // publishes new maps meanwhile
		intern(fmt.Appendf(nil, "intern-test-%d", i))
	}
	again := intern([]byte("intern-test-word"))
	if unsafe.StringData(first) != unsafe.StringData(again) {
		t.Error("a word interned twice is two copies")
	}
	long := strings.Repeat("x", maxInternedLen+1)
	if got := intern([]byte(long)); got != long {
		t.Errorf("a long word came back as %q", got)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2 * maxInterned {
				w := fmt.Appendf(nil, "intern-race-%d-%d", g%2, i)
				if got := intern(w); got != string(w) {
					t.Errorf("intern(%q) = %q", w, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(*interned.words.Load()) + len(interned.pending); n > maxInterned {
		t.Errorf("%d words kept, bound %d", n, maxInterned)
	}
	if got := intern([]byte("intern-test-word")); unsafe.StringData(got) != unsafe.StringData(first) {
		t.Error("a word interned before the bound was reached lost its copy")
	}
}

// BenchmarkPollDecode: the poll's walk of the sample answers next to
// encoding/json decoding them into the same types, in one run. busy-status
// is the status sample as a busy town on the real worker answers it: its
// last twenty events, compact (Hono's c.json).
func BenchmarkPollDecode(b *testing.B) {
	status := func(data []byte) error { var st statusPart; return decodeStatusPart(data, &st) }
	statusStd := func(data []byte) error { var st statusPart; return json.Unmarshal(data, &st) }
	file := func(name string) func() ([]byte, error) {
		return func() ([]byte, error) { return os.ReadFile("testdata/" + name) }
	}
	for _, c := range []struct {
		name string
		read func() ([]byte, error)
		walk func([]byte) error
		std  func([]byte) error
	}{
		{"status.json", file("status.json"), status, statusStd},
		{"busy-status", busyStatus, status, statusStd},
		{"dry-run.json", file("dry-run.json"),
			func(data []byte) error { var d dryRunPart; return decodeDryRunPart(data, &d) },
			func(data []byte) error { var d dryRunPart; return json.Unmarshal(data, &d) }},
	} {
		data, err := c.read()
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range []struct {
			name   string
			decode func([]byte) error
		}{{"walk", c.walk}, {"encoding-json", c.std}} {
			decode := d.decode
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if err := decode(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// busyStatus is the status sample with twenty recent events, compact.
func busyStatus() ([]byte, error) {
	data, err := os.ReadFile("testdata/status.json")
	if err != nil {
		return nil, err
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	alarm, ok := st["alarmStatus"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("status sample without alarmStatus")
	}
	events := make([]map[string]string, 20)
	for i := range events {
		events[i] = map[string]string{
			"time":    fmt.Sprintf("2026-11-28 08:59:%02d.412", 59-i),
			"type":    "status_changed",
			"message": fmt.Sprintf("Bead \"Fix login redirect %d\" status: in_progress → in_review", i),
		}
	}
	alarm["recentEvents"] = events
	return json.Marshal(st)
}

// TestActionCounts: the counts read and write the worker's object, sorted,
// one entry per type with a repeated key's last count, nil as null.
func TestActionCounts(t *testing.T) {
	var a ActionCounts
	if err := json.Unmarshal([]byte(`{"poll_pr":2,"dispatch_agent":1,"poll_pr":3}`), &a); err != nil {
		t.Fatal(err)
	}
	if want := (ActionCounts{{"dispatch_agent", 1}, {"poll_pr", 3}}); !slices.Equal(a, want) {
		t.Fatalf("decoded %v, want %v", a, want)
	}
	if a.Get("poll_pr") != 3 || a.Get("absent") != 0 {
		t.Errorf("Get: poll_pr %d, absent %d", a.Get("poll_pr"), a.Get("absent"))
	}
	for _, tc := range []struct {
		a    ActionCounts
		want string
	}{{a, `{"dispatch_agent":1,"poll_pr":3}`}, {ActionCounts{}, `{}`}, {nil, `null`}} {
		if b, err := json.Marshal(tc.a); err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.a, b, err, tc.want)
		}
	}
	if got := CountActions(map[string]int{"b": 2, "a": 1}); !slices.Equal(got, ActionCounts{{"a", 1}, {"b", 2}}) {
		t.Errorf("CountActions = %v", got)
	}
}

// TestActionCountsOfManyTypes: past the few types a worker has, the counts
// still come out sorted with the last of a repeated type.
func TestActionCountsOfManyTypes(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&b, `"t%02d":%d,`, 99-i, i)
	}
	b.WriteString(`"t50":-1}`)
	var a ActionCounts
	d := decoder{data: []byte(b.String())}
	d.actionCounts(&a)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if len(a) != 100 || !slices.IsSortedFunc(a, func(x, y ActionCount) int { return strings.Compare(x.Type, y.Type) }) || a.Get("t50") != -1 || a.Get("t00") != 99 {
		t.Fatalf("%d counts, t50 %d, t00 %d, sorted %v", len(a), a.Get("t50"), a.Get("t00"), a)
	}
}
