package gastown

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A poll decodes its two answers with a walk of exactly the fields it
// keeps, instead of reflection: a poll is made for every town every few
// seconds, and the reflection-based decoders allocate for every key and
// number. The walk accepts what encoding/json accepts into the same Go
// types and yields the same values (field names matched case-insensitively,
// null leaving a value as it was, duplicate keys merging, numbers of the
// wrong form rejected); it rejects every syntax error. FuzzPollStatus and
// FuzzPollDryRun hold it to that.

// statusPart is what a poll keeps of a status answer.
type statusPart struct {
	AlarmStatus struct {
		Alarm      Alarm              `json:"alarm"`
		Agents     AgentCounts        `json:"agents"`
		Beads      BeadCounts         `json:"beads"`
		Reconciler *ReconcilerMetrics `json:"reconciler"`
	} `json:"alarmStatus"`
	AgentMeta   []agentRow `json:"agentMeta"`
	BeadSummary []beadRow  `json:"beadSummary"`
}

// dryRunPart is what a poll keeps of a dry-run answer: not the actions.
type dryRunPart struct {
	Metrics    DryRunMetrics `json:"metrics"`
	Violations []Violation   `json:"violations"`
}

func decodeStatusPart(data []byte, st *statusPart) error {
	d := decoder{data: data}
	d.document(func() {
		for key, ok := d.object(); ok; key, ok = d.next() {
			switch fieldIndex(key, "alarmStatus", "agentMeta", "beadSummary") {
			case 0:
				d.alarmStatus(st)
			case 1:
				decodeSlice(&d, &st.AgentMeta, (*decoder).agentRow)
			case 2:
				decodeSlice(&d, &st.BeadSummary, (*decoder).beadRow)
			default:
				d.skip()
			}
		}
	})
	return result[statusPart](&d, data)
}

func decodeDryRunPart(data []byte, dr *dryRunPart) error {
	d := decoder{data: data}
	d.document(func() {
		for key, ok := d.object(); ok; key, ok = d.next() {
			switch fieldIndex(key, "metrics", "violations") {
			case 0:
				m := &dr.Metrics
				for key, ok := d.object(); ok; key, ok = d.next() {
					switch fieldIndex(key, "actionsEmitted", "actionsByType", "pendingEventCount", "eventsDrained") {
					case 0:
						d.int(&m.ActionsEmitted)
					case 1:
						d.actionCounts(&m.ActionsByType)
					case 2:
						d.int(&m.PendingEventCount)
					case 3:
						d.int(&m.EventsDrained)
					default:
						d.skip()
					}
				}
			case 1:
				decodeSlice(&d, &dr.Violations, (*decoder).violation)
			default:
				d.skip()
			}
		}
	})
	return result[dryRunPart](&d, data)
}

func (d *decoder) alarmStatus(st *statusPart) {
	a := &st.AlarmStatus
	for key, ok := d.object(); ok; key, ok = d.next() {
		switch fieldIndex(key, "alarm", "agents", "beads", "reconciler") {
		case 0:
			for key, ok := d.object(); ok; key, ok = d.next() {
				switch fieldIndex(key, "nextFireAt", "intervalMs", "intervalLabel") {
				case 0:
					d.timePtr(&a.Alarm.NextFireAt)
				case 1:
					d.int64(&a.Alarm.IntervalMs)
				case 2:
					d.string(&a.Alarm.IntervalLabel)
				default:
					d.skip()
				}
			}
		case 1:
			c := &a.Agents
			for key, ok := d.object(); ok; key, ok = d.next() {
				switch fieldIndex(key, "working", "idle", "stalled", "dead", "total") {
				case 0:
					d.int(&c.Working)
				case 1:
					d.int(&c.Idle)
				case 2:
					d.int(&c.Stalled)
				case 3:
					d.int(&c.Dead)
				case 4:
					d.int(&c.Total)
				default:
					d.skip()
				}
			}
		case 2:
			c := &a.Beads
			for key, ok := d.object(); ok; key, ok = d.next() {
				switch fieldIndex(key, "open", "inProgress", "inReview", "failed", "triageRequests") {
				case 0:
					d.int(&c.Open)
				case 1:
					d.int(&c.InProgress)
				case 2:
					d.int(&c.InReview)
				case 3:
					d.int(&c.Failed)
				case 4:
					d.int(&c.TriageRequests)
				default:
					d.skip()
				}
			}
		case 3:
			d.reconciler(&a.Reconciler)
		default:
			d.skip()
		}
	}
}

func (d *decoder) reconciler(p **ReconcilerMetrics) {
	if d.null() {
		*p = nil
		return
	}
	if *p == nil { // a repeated key decodes into the first one's value
		*p = new(ReconcilerMetrics)
	}
	r := *p
	for key, ok := d.object(); ok; key, ok = d.next() {
		switch fieldIndex(key, "eventsDrained", "actionsEmitted", "actionsByType", "sideEffectsAttempted", "sideEffectsSucceeded", "sideEffectsFailed", "invariantViolations", "wallClockMs", "pendingEventCount") {
		case 0:
			d.int(&r.EventsDrained)
		case 1:
			d.int(&r.ActionsEmitted)
		case 2:
			d.actionCounts(&r.ActionsByType)
		case 3:
			d.int(&r.SideEffectsAttempted)
		case 4:
			d.int(&r.SideEffectsSucceeded)
		case 5:
			d.int(&r.SideEffectsFailed)
		case 6:
			d.int(&r.InvariantViolations)
		case 7:
			d.float64(&r.WallClockMs)
		case 8:
			d.int(&r.PendingEventCount)
		default:
			d.skip()
		}
	}
}

func (d *decoder) agentRow(r *agentRow) {
	for key, ok := d.object(); ok; key, ok = d.next() {
		switch fieldIndex(key, "bead_id", "status", "current_hook_bead_id") {
		case 0:
			d.string(&r.BeadID)
		case 1:
			d.word(&r.Status)
		case 2:
			d.stringPtr(&r.CurrentHookBeadID)
		default:
			d.skip()
		}
	}
}

func (d *decoder) beadRow(r *beadRow) {
	for key, ok := d.object(); ok; key, ok = d.next() {
		switch fieldIndex(key, "bead_id", "type", "status", "rig_id") {
		case 0:
			d.string(&r.BeadID)
		case 1:
			d.word(&r.Type)
		case 2:
			d.word(&r.Status)
		case 3:
			d.stringPtr(&r.RigID)
		default:
			d.skip()
		}
	}
}

func (d *decoder) violation(v *Violation) {
	for key, ok := d.object(); ok; key, ok = d.next() {
		switch fieldIndex(key, "invariant", "message") {
		case 0:
			d.int(&v.Invariant)
		case 1:
			d.string(&v.Message)
		default:
			d.skip()
		}
	}
}

// fieldIndex is the index of the field name an object key stands for, -1
// for none. Like encoding/json it prefers an exact match, then matches
// case-insensitively with Unicode's simple folding (so "ſ" matches "s").
func fieldIndex(key []byte, names ...string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	ascii := true
	for _, c := range key {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for i, n := range names {
		// Folding keeps the length of ASCII text: only a key with other
		// characters can fold to a name of another length.
		if (!ascii || len(key) == len(n)) && bytes.EqualFold(key, []byte(n)) {
			return i
		}
	}
	return -1
}

// decoder walks one JSON document. The first error ends the walk: every
// later step does nothing.
type decoder struct {
	data    []byte
	off     int
	depth   int
	err     error
	scratch []byte // an unescaped string
}

// maxDepth bounds nesting, as encoding/json does, so that a body of
// brackets cannot exhaust the stack.
const maxDepth = 10000

var errEnd = errors.New("unexpected end of JSON input")

func (d *decoder) syntax(msg string) {
	if d.err == nil {
		if d.off >= len(d.data) {
			d.err = errEnd
		} else {
			d.err = fmt.Errorf("%s at offset %d", msg, d.off)
		}
	}
}

// mistyped records a value of the wrong type for its field.
func (d *decoder) mistyped(want string) {
	if d.err == nil {
		d.err = fmt.Errorf("cannot read a %s at offset %d", want, d.off)
	}
}

// document decodes one top-level value with body and rejects anything
// but whitespace after it. A top-level null decodes nothing.
func (d *decoder) document(body func()) {
	if d.null() {
		d.end()
		return
	}
	body()
	d.end()
}

func (d *decoder) end() {
	d.ws()
	if d.err == nil && d.off < len(d.data) {
		d.syntax("invalid character after top-level value")
	}
}

// result is nil, or the error: in encoding/json's words when it rejects
// the answer into a T too, since those are clearer to whoever reads them.
// The caller's value is not handed to encoding/json: it would then live on
// the heap on every poll, not only on this path.
func result[T any](d *decoder, data []byte) error {
	if d.err == nil {
		return nil
	}
	var ref T
	if err := json.Unmarshal(data, &ref); err != nil {
		return err
	}
	return d.err
}

func (d *decoder) ws() {
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

// peek is the next byte after whitespace, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.off < len(d.data) {
		return d.data[d.off]
	}
	return 0
}

// literal consumes word (true, false or null) if it comes next.
func (d *decoder) literal(word string) bool {
	if d.err != nil || !bytes.HasPrefix(d.data[d.off:], []byte(word)) {
		return false
	}
	d.off += len(word)
	return true
}

// null consumes a null if it comes next.
func (d *decoder) null() bool { return d.err == nil && d.peek() == 'n' && d.literalOrFail("null") }

func (d *decoder) literalOrFail(word string) bool {
	if !d.literal(word) {
		d.syntax("invalid literal")
		return false
	}
	return true
}

// object starts an object and reads its first key; false for an empty
// object, a null (which leaves the fields as they are) or an error.
func (d *decoder) object() ([]byte, bool) {
	if d.err != nil || d.null() {
		return nil, false
	}
	switch c := d.peek(); {
	case c == '{':
	case c == '[' || c == '"' || c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
		d.mistyped("object")
		return nil, false
	default:
		d.syntax("invalid character looking for an object")
		return nil, false
	}
	if d.depth++; d.depth > maxDepth {
		d.syntax("exceeded max depth")
		return nil, false
	}
	d.off++
	if d.peek() == '}' {
		d.off++
		d.depth--
		return nil, false
	}
	return d.key()
}

// next reads the next key of an object, false at its end or on error.
func (d *decoder) next() ([]byte, bool) {
	if d.err != nil {
		return nil, false
	}
	switch d.peek() {
	case ',':
		d.off++
		d.ws()
		return d.key()
	case '}':
		d.off++
		d.depth--
		return nil, false
	}
	d.syntax("invalid character after object value")
	return nil, false
}

func (d *decoder) key() ([]byte, bool) {
	if d.peek() != '"' {
		d.syntax("invalid character looking for an object key")
		return nil, false
	}
	k := d.str()
	if d.peek() != ':' {
		d.syntax("invalid character after object key")
		return nil, false
	}
	d.off++
	return k, d.err == nil
}

// array starts an array: false for a null (the caller decides what it
// means) or an error; empty reports an empty array.
func (d *decoder) array() (ok, empty bool) {
	if d.err != nil {
		return false, false
	}
	switch c := d.peek(); {
	case c == '[':
	case c == '{' || c == '"' || c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
		d.mistyped("array")
		return false, false
	default:
		d.syntax("invalid character looking for an array")
		return false, false
	}
	if d.depth++; d.depth > maxDepth {
		d.syntax("exceeded max depth")
		return false, false
	}
	d.off++
	if d.peek() == ']' {
		d.off++
		d.depth--
		return true, true
	}
	return true, false
}

// more reports whether another element follows in an array.
func (d *decoder) more() bool {
	if d.err != nil {
		return false
	}
	switch d.peek() {
	case ',':
		d.off++
		return true
	case ']':
		d.off++
		d.depth--
		return false
	}
	d.syntax("invalid character after array element")
	return false
}

// decodeSlice decodes an array into *s as encoding/json does: null sets
// nil, [] an empty slice, and each element decodes into the slice's
// element of its index, reusing what a repeated key left there.
func decodeSlice[T any](d *decoder, s *[]T, elem func(*decoder, *T)) {
	if d.null() {
		*s = nil
		return
	}
	ok, empty := d.array()
	if !ok {
		return
	}
	if empty {
		*s = []T{}
		return
	}
	v := (*s)[:0]
	for i := 0; ; i++ {
		if i < cap(v) {
			v = v[:i+1]
		} else {
			var zero T
			v = append(v, zero)
		}
		elem(d, &v[i])
		if !d.more() {
			break
		}
	}
	*s = v
}

// str reads a string and returns its unescaped bytes, valid until the
// next call. The body was made valid UTF-8 before the walk.
func (d *decoder) str() []byte {
	if d.err != nil {
		return nil
	}
	d.off++ // the opening quote
	start := d.off
	i := start
	// Eight bytes at a time while none of them ends the plain run: most
	// strings hold no escape, and their bytes are most of an answer.
	for ; i+8 <= len(d.data); i += 8 {
		if hit := special(binary.LittleEndian.Uint64(d.data[i:])); hit != 0 {
			i += bits.TrailingZeros64(hit) / 8
			break
		}
	}
	for ; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.off = i + 1
			return d.data[start:i]
		case c == '\\':
			return d.unescape(start, i)
		case c < 0x20:
			d.off = i
			d.syntax("invalid character in string literal")
			return nil
		}
	}
	d.off = len(d.data)
	d.syntax("")
	return nil
}

// special marks with its high bit each of the eight bytes in w (little
// endian) that is a quote, a backslash or a control character (below
// 0x20): the bytes a string scan must stop at. Each test asks whether a
// byte is below n (1 for the quote and the backslash, after an XOR makes
// them 0): subtracting n from every byte sets the high bit of a byte that
// was below it, and &^ drops the bytes whose high bit was set already. A
// borrow from a marked byte may mark the bytes above it too, never one
// below: the lowest mark is exact, and the scan stops there.
func special(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (ones * '"')
	slash := w ^ (ones * '\\')
	hit := (quote - ones) &^ quote
	hit |= (slash - ones) &^ slash
	hit |= (w - ones*0x20) &^ w
	return hit & highs
}

// unescape reads the rest of a string whose first escape is at i.
func (d *decoder) unescape(start, i int) []byte {
	out := append(d.scratch[:0], d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.off, d.scratch = i+1, out
			return out
		case c < 0x20:
			d.off = i
			d.syntax("invalid character in string literal")
			return nil
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		switch e := d.data[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(d.data[i+2:])
			if !ok {
				d.off = min(i+2, len(d.data))
				d.syntax("invalid escape in string literal")
				return nil
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; a lone half is U+FFFD, and what
				// follows it is read on its own.
				if len(d.data) > i+1 && d.data[i] == '\\' && d.data[i+1] == 'u' {
					if r2, ok := hex4(d.data[i+2:]); ok {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			d.off = i + 1
			d.syntax("invalid escape in string literal")
			return nil
		}
		i += 2
	}
	d.off = len(d.data)
	d.syntax("")
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number literal, checked against JSON's grammar.
func (d *decoder) number() []byte {
	start, b := d.off, d.data
	i := start
	digits := func() bool {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		d.off = i
		d.syntax("invalid character in numeric literal")
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			d.off = i
			d.syntax("invalid character after decimal point in numeric literal")
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			d.off = i
			d.syntax("invalid character in exponent of numeric literal")
			return nil
		}
	}
	d.off = i
	return b[start:i]
}

// scalar positions the walk at a value meant to be of kind want (a
// number or a string), consuming a null: it reports whether that value
// is there. Anything else is a type or syntax error.
func (d *decoder) scalar(want byte) bool {
	if d.err != nil || d.null() {
		return false
	}
	c := d.peek()
	isNum := c == '-' || (c >= '0' && c <= '9')
	switch {
	case want == '0' && isNum, want == '"' && c == '"':
		return true
	case c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || isNum:
		if want == '"' {
			d.mistyped("string")
		} else {
			d.mistyped("number")
		}
	default:
		d.syntax("invalid character looking for a value")
	}
	return false
}

// whole reads a number for an integer field: no fraction, no exponent,
// within int64 (int is 64 bits wherever tickwatch builds); ok is false for
// a null, which leaves the field as it was.
func (d *decoder) whole() (n int64, ok bool) {
	if !d.scalar('0') {
		return 0, false
	}
	lit := d.number()
	if d.err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		d.mistyped("whole number")
		return 0, false
	}
	return n, true
}

func (d *decoder) int64(p *int64) {
	if n, ok := d.whole(); ok {
		*p = n
	}
}

func (d *decoder) int(p *int) {
	if n, ok := d.whole(); ok {
		*p = int(n)
	}
}

func (d *decoder) float64(p *float64) {
	if !d.scalar('0') {
		return
	}
	lit := d.number()
	if d.err != nil {
		return
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		d.mistyped("float64")
		return
	}
	*p = f
}

// string reads a string field; word is for fields that hold one of a few
// values (a status, a type), kept once for all towns.
func (d *decoder) string(p *string) {
	if d.scalar('"') {
		if s := d.str(); d.err == nil {
			*p = string(s)
		}
	}
}

func (d *decoder) word(p *string) {
	if d.scalar('"') {
		if s := d.str(); d.err == nil {
			*p = intern(s)
		}
	}
}

func (d *decoder) stringPtr(p **string) {
	if d.null() {
		*p = nil
		return
	}
	if d.scalar('"') {
		if s := d.str(); d.err == nil {
			v := string(s)
			if *p != nil {
				**p = v
			} else {
				*p = &v
			}
		}
	}
}

// timePtr hands the value, whatever it is, to time.Time's UnmarshalJSON,
// as encoding/json does: it accepts only an RFC 3339 string.
func (d *decoder) timePtr(p **time.Time) {
	if d.null() {
		*p = nil
		return
	}
	if d.err != nil {
		return
	}
	d.ws()
	start := d.off
	d.skip()
	if d.err != nil {
		return
	}
	t := *p
	if t == nil {
		t = new(time.Time)
	}
	if err := t.UnmarshalJSON(d.data[start:d.off]); err != nil {
		d.err = err
		return
	}
	*p = t
}

// actionCounts decodes an object of counts into *a, adding to what a
// repeated key left, as into a map; null sets nil.
func (d *decoder) actionCounts(a *ActionCounts) {
	if d.null() {
		*a = nil
		return
	}
	key, ok := d.object()
	if d.err != nil {
		return
	}
	v := *a
	if v == nil {
		v = make(ActionCounts, 0, 8)
	}
	for ; ok; key, ok = d.next() {
		c := ActionCount{Type: intern(key)}
		d.int(&c.Count)
		if d.err != nil {
			return
		}
		v = append(v, c)
	}
	*a = v.normalized()
}

// skip reads any value and checks its syntax.
func (d *decoder) skip() {
	if d.err != nil {
		return
	}
	switch c := d.peek(); {
	case c == '{':
		for _, ok := d.object(); ok; _, ok = d.next() {
			d.skip()
		}
	case c == '[':
		if ok, empty := d.array(); ok && !empty {
			for d.skip(); d.more(); {
				d.skip()
			}
		}
	case c == '"':
		d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	case c == 't':
		d.literalOrFail("true")
	case c == 'f':
		d.literalOrFail("false")
	case c == 'n':
		d.literalOrFail("null")
	default:
		d.syntax("invalid character looking for a value")
	}
}

// interned holds the words the fleet's answers repeat (action types,
// statuses, bead types), one copy each instead of one per town and poll.
// Polls look words up from many goroutines at once, so the words are read
// from a map published whole, without a lock. A new word waits in pending,
// under the lock, until pending is a quarter of the published map's size:
// then a merged copy is published, so that publishing costs a few copies
// of the words in all. It stops growing at a bound, so a target that
// invents words costs nothing but the allocations interning saves.
var interned struct {
	words atomic.Pointer[map[string]string]
	sync.Mutex
	pending map[string]string
}

const (
	maxInterned    = 4096
	maxInternedLen = 64
)

func intern(b []byte) string {
	words := interned.words.Load()
	if words != nil {
		if s, ok := (*words)[string(b)]; ok {
			return s
		}
	}
	if len(b) > maxInternedLen {
		return string(b)
	}
	interned.Lock()
	defer interned.Unlock()
	if s, ok := interned.pending[string(b)]; ok {
		return s
	}
	s := string(b)
	words = interned.words.Load() // the lock's holder may have published meanwhile
	if words == nil {
		words = new(map[string]string)
	}
	if w, ok := (*words)[s]; ok {
		return w
	}
	if len(*words)+len(interned.pending) >= maxInterned {
		return s
	}
	if interned.pending == nil {
		interned.pending = map[string]string{}
	}
	interned.pending[s] = s
	if len(interned.pending) > len(*words)/4 {
		m := make(map[string]string, len(*words)+len(interned.pending))
		maps.Copy(m, *words)
		maps.Copy(m, interned.pending)
		interned.words.Store(&m)
		clear(interned.pending)
	}
	return s
}
