package simtown

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Fault holds one town's fault knobs; the zero value is a healthy town. Its
// JSON form is what PUT /debug/towns/{town}/fault takes and GET returns:
//
//	{"latency":"250ms","error_rate":0.5,"hang":false,"malformed_body":false,
//	 "stall_alarm":false,"queue_depth":0,"break_invariant":7,"savepoint_refused":false}
type Fault struct {
	Latency        time.Duration // JSON "latency": a Go duration string
	ErrorRate      float64       // share of town calls answered with the 500 envelope
	Hang           bool          // town calls never answer until the client gives up
	MalformedBody  bool          // town calls answer 200 with a truncated JSON body
	StallAlarm     bool          // alarm ticks stop draining events, so they pile up
	QueueDepth     int           // keep at least this many events pending
	BreakInvariant int           // 3..7: keep that invariant broken until healed
	// SavepointRefused answers the dry run and every valid replay with
	// Gastown's 500, as the real code does on workerd.
	SavepointRefused bool
}

const maxQueueDepthKnob = 100000

type faultJSON struct {
	Latency          string  `json:"latency"`
	ErrorRate        float64 `json:"error_rate"`
	Hang             bool    `json:"hang"`
	MalformedBody    bool    `json:"malformed_body"`
	StallAlarm       bool    `json:"stall_alarm"`
	QueueDepth       int     `json:"queue_depth"`
	BreakInvariant   int     `json:"break_invariant"`
	SavepointRefused bool    `json:"savepoint_refused"`
}

func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{
		Latency: f.Latency.String(), ErrorRate: f.ErrorRate, Hang: f.Hang,
		MalformedBody: f.MalformedBody, StallAlarm: f.StallAlarm,
		QueueDepth: f.QueueDepth, BreakInvariant: f.BreakInvariant, SavepointRefused: f.SavepointRefused,
	})
}

// UnmarshalJSON refuses unknown keys: a misspelt knob would otherwise heal
// the town without a word.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	var lat time.Duration
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		lat = d
	}
	*f = Fault{Latency: lat, ErrorRate: j.ErrorRate, Hang: j.Hang, MalformedBody: j.MalformedBody,
		StallAlarm: j.StallAlarm, QueueDepth: j.QueueDepth, BreakInvariant: j.BreakInvariant,
		SavepointRefused: j.SavepointRefused}
	return nil
}

// Validate reports the first knob that is out of range.
func (f Fault) Validate() error {
	switch {
	case f.Latency < 0 || f.Latency > 10*time.Minute:
		return fmt.Errorf("latency %s out of range [0s, 10m]", f.Latency)
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate:
		return fmt.Errorf("error_rate %v out of range [0, 1]", f.ErrorRate)
	case f.QueueDepth < 0 || f.QueueDepth > maxQueueDepthKnob:
		return fmt.Errorf("queue_depth %d out of range [0, %d]", f.QueueDepth, maxQueueDepthKnob)
	case f.BreakInvariant != 0 && (f.BreakInvariant < 3 || f.BreakInvariant > 7):
		return fmt.Errorf("break_invariant %d is not one of 3, 4, 5, 6, 7 (0 = none)", f.BreakInvariant)
	}
	return nil
}
