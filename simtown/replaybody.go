package simtown

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseReplayBody reads a replay-events body the way Gastown's handler
// does in JavaScript: a body that is not JSON (empty included) or is null
// throws (errInternal: a 500); from and to must be truthy (replayMissing),
// valid for new Date (replayBadDate) and in order (replayOrder). The SQL
// then compares the values as sent, not the dates: a bound in another
// format than the stored created_at filters as text would.
func parseReplayBody(raw []byte) (w replayWindow, mode string, invalid string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body any
	if !json.Valid(raw) || dec.Decode(&body) != nil || body == nil {
		return w, "", errInternal
	}
	obj, _ := body.(map[string]any) // other JSON values have no fields
	from, to := obj["from"], obj["to"]
	if !truthy(from) || !truthy(to) {
		return w, "", replayMissing
	}
	var okFrom, okTo bool
	w.fromAt, okFrom = jsDate(from)
	w.toAt, okTo = jsDate(to)
	if !okFrom || !okTo {
		return w, "", replayBadDate
	}
	if w.fromAt.After(w.toAt) {
		return w, "", replayOrder
	}
	w.from, w.to = sqlValue(from), sqlValue(to)
	mode, _ = obj["mode"].(string)
	return w, mode, ""
}

// truthy is JavaScript's truthiness of a JSON value (undefined is nil).
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	}
	return true // objects and arrays, even empty ones
}

// maxJSDate is the largest time value a JavaScript Date holds, in ms.
const maxJSDate = 8.64e15

// jsDate is new Date(v) for a JSON value: numbers are milliseconds since
// the epoch, true is 1, arrays are their joined text, strings are parsed
// in the ISO 8601 shapes Date accepts (without a zone, UTC, as on
// Workers). Times have milliseconds, as Dates do.
func jsDate(v any) (time.Time, bool) {
	switch v := v.(type) {
	case bool:
		return time.UnixMilli(1).UTC(), v
	case json.Number:
		f, err := v.Float64()
		if err != nil || math.Abs(f) > maxJSDate {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(f)).UTC(), true
	case string:
		return parseJSDate(v)
	case []any:
		return parseJSDate(jsString(v))
	}
	return time.Time{}, false
}

// jsDateLayouts are the ISO 8601 shapes JavaScript's Date accepts.
var jsDateLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006",
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04",
}

func parseJSDate(s string) (time.Time, bool) {
	for _, l := range jsDateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), true
		}
	}
	return time.Time{}, false
}

// jsString is String(v) for the scalars and arrays of a JSON array.
func jsString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return v.String()
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = jsString(e)
		}
		return strings.Join(parts, ",")
	}
	return "[object Object]"
}

// sqlValue is what Gastown's SQL binds for a bound: strings and numbers
// as they are (SQLite compares a number with the text column as text),
// anything else as its text, which the real worker was measured to match.
func sqlValue(v any) any {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return jsString(v)
}
