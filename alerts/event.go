package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/tickwatch/tickwatch/config"
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
	links                config.Web // the bases of the links, nothing else of it
}

// LinkMargin is how much time the dashboard link shows before the violation
// was first seen and after its transition.
const LinkMargin = 30 * time.Minute

// newEvent builds the Sentry event of a transition. Only the transition's
// own fields go in, and from the configuration only environment, release,
// shard and the two link bases, so no secret can reach Sentry.
func newEvent(t dedupe.Transition, spec *eventSpec) *sentry.Event {
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
	links := sentry.Context{}
	if u := spec.links.TownPageURL(t.Town); u != "" {
		links["town_page"] = u
	}
	if u := spec.links.DashboardURL(t.Town, t.FirstSeen.Add(-LinkMargin), t.At.Add(LinkMargin)); u != "" {
		links["dashboard"] = u
	}
	if len(links) > 0 {
		ev.Contexts["links"] = links
	}
	if tr := t.Triage; tr != nil {
		addTriage(ev, tr)
	}
	return ev
}

// addTriage puts what the poll saw into the event: the town's recent events
// as breadcrumbs, the rows the violation names, the last tick's metrics and
// the rig tag.
func addTriage(ev *sentry.Event, tr *gastown.Triage) {
	for _, e := range tr.RecentEvents {
		ev.Breadcrumbs = append(ev.Breadcrumbs, &sentry.Breadcrumb{
			Type: "default", Category: e.Type, Message: e.Message, Level: sentry.LevelInfo, Timestamp: e.Time,
		})
	}
	if tr.Rig != "" {
		ev.Tags["rig"] = tr.Rig
	}
	rows := sentry.Context{}
	for _, a := range tr.Agents {
		rows["agent "+a.BeadID] = map[string]any{
			"role": a.Role, "status": a.Status, "hook": a.CurrentHookBeadID,
			"dispatch_attempts": a.DispatchAttempts, "last_activity_at": a.LastActivityAt.UTC().Format(time.RFC3339Nano),
		}
	}
	for _, b := range tr.Beads {
		row := map[string]any{
			"type": b.Type, "status": b.Status, "title": b.Title, "assignee": b.AssigneeAgentBeadID,
			"updated_at": b.UpdatedAt.UTC().Format(time.RFC3339Nano),
		}
		if b.RigID != nil {
			row["rig"] = *b.RigID
		}
		rows["bead "+b.BeadID] = row
	}
	if len(rows) > 0 {
		ev.Contexts["status_rows"] = rows
	}
	if r := tr.Reconciler; r != nil {
		ev.Contexts["reconciler"] = sentry.Context{
			"eventsDrained": r.EventsDrained, "actionsEmitted": r.ActionsEmitted, "actionsByType": r.ActionsByType,
			"sideEffectsAttempted": r.SideEffectsAttempted, "sideEffectsSucceeded": r.SideEffectsSucceeded,
			"sideEffectsFailed": r.SideEffectsFailed, "invariantViolations": r.InvariantViolations,
			"wallClockMs": r.WallClockMs, "pendingEventCount": r.PendingEventCount,
		}
	}
}
