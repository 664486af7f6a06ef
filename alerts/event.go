package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// EventID derives the Sentry event id of a transition from (town, identity,
// kind, sequence): the same transition, re-issued after a crash or retried
// after a failure, is the same event to Sentry and to the outbox.
func EventID(t dedupe.Transition) string {
	h := sha256.New()
	for _, s := range []string{t.Town, t.Identity, string(t.Kind), strconv.FormatUint(t.Seq, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Message is the event message of a transition.
func Message(t dedupe.Transition) string {
	verb := "violated"
	if t.Kind == dedupe.Resolved {
		verb = "resolved"
	}
	which := "#" + strconv.Itoa(t.Invariant)
	if t.Invariant == gastown.Unnamed {
		which = "(unnamed)"
	}
	return fmt.Sprintf("Reconciler invariant %s %s: %s", which, verb, t.Message)
}

// howKnown says plainly where a violation comes from, for a triager who
// wonders why an event names no row.
func howKnown(s gastown.ViolationSource) string {
	switch s {
	case gastown.NamedByDryRun:
		return "named by the worker's dry run"
	case gastown.DerivedFromStatus:
		return "derived by tickwatch from the town's status rows (it derives " + gastown.Derivable + ")"
	case gastown.ReconcilerCount:
		return "the part of the reconciler's own count (status reconciler.invariantViolations) that tickwatch cannot " +
			"derive from the status rows (it derives " + gastown.Derivable + "); the reconciler sends its messages " +
			"only to its own Sentry and analytics"
	}
	return "unknown"
}

// Fingerprint groups events in Sentry: "reconciler-invariant" followed by the
// group_by parts in their configured order (invariant, town, subject).
func Fingerprint(t dedupe.Transition, groupBy []string) []string {
	fp := make([]string, 0, 1+len(groupBy))
	fp = append(fp, "reconciler-invariant")
	for _, g := range groupBy {
		switch g {
		case "invariant":
			fp = append(fp, gastown.InvariantLabel(t.Invariant))
		case "town":
			fp = append(fp, t.Town)
		case "subject":
			fp = append(fp, t.Subject)
		}
	}
	return fp
}

// eventSpec is what an event needs beyond the transition.
type eventSpec struct {
	environment, release string
	shard                int
	groupBy              []string
}

// newEvent builds the Sentry event of a transition. Only the transition's
// own fields go in: nothing from the configuration but environment, release
// and shard, so no secret can reach Sentry.
func newEvent(t dedupe.Transition, spec eventSpec) *sentry.Event {
	ev := sentry.NewEvent()
	ev.EventID = sentry.EventID(EventID(t))
	ev.Message = Message(t)
	ev.Level = sentry.LevelError
	if t.Kind == dedupe.Resolved {
		ev.Level = sentry.LevelInfo
	}
	ev.Logger = "tickwatch"
	ev.Timestamp = t.At
	ev.Environment = spec.environment
	ev.Release = spec.release
	ev.Tags = map[string]string{
		"town":       t.Town,
		"invariant":  gastown.InvariantLabel(t.Invariant),
		"transition": string(t.Kind),
		"shard":      strconv.Itoa(spec.shard),
	}
	ev.Fingerprint = Fingerprint(t, spec.groupBy)
	ev.Contexts["violation"] = sentry.Context{
		"invariant":    t.Invariant,
		"message":      t.Message,
		"subject":      t.Subject,
		"town":         t.Town,
		"first_seen":   t.FirstSeen.UTC().Format(time.RFC3339Nano),
		"last_seen":    t.LastSeen.UTC().Format(time.RFC3339Nano),
		"observations": t.Observations,
		"source":       string(t.Source),
		"how_known":    howKnown(t.Source),
	}
	return ev
}
