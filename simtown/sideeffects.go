package simtown

import (
	"context"
	"time"
)

// effects is what the simulated side effects of one tick did.
type effects struct {
	attempted int
	events    []event // what the outside world reported back
}

// sideEffects simulates the calls Gastown makes for dispatch_agent,
// stop_agent, poll_pr and send_nudge. Each may fail (SideEffectFailureRate)
// and take SideEffectLatency. Their outcomes only come back as events. Like
// Gastown's, each side effect catches its own error, so a failed one still
// counts as attempted and succeeded: sideEffectsFailed stays 0.
func (t *town) sideEffects(ctx context.Context, acts []action) effects {
	var fx effects
	for _, a := range acts {
		switch a.Type {
		case "dispatch_agent", "stop_agent", "poll_pr", "send_nudge":
		default:
			continue
		}
		fx.attempted++
		if t.opts.SideEffectLatency > 0 {
			sleep(ctx, t.opts.SideEffectLatency)
		}
		if t.rng.Float64() < t.opts.SideEffectFailureRate {
			if a.Type == "dispatch_agent" {
				code := 1
				fx.events = append(fx.events, event{Type: evContainerStatus, AgentID: a.spawned, BeadID: a.BeadID,
					Payload: payload{Status: "exited", ExitCode: &code, Reason: "start_failed"}})
			}
			continue
		}
		switch a.Type {
		case "dispatch_agent":
			// The container reports that it runs; Gastown does not record it.
			fx.events = append(fx.events, event{Type: evContainerStatus, AgentID: a.spawned, Payload: payload{Status: "running"}})
		case "poll_pr":
			if isFaultBead(a.BeadID) {
				continue // a fault's PR never moves
			}
			switch r := t.rng.Float64(); {
			case r < 0.30:
				fx.events = append(fx.events, event{Type: evPRStatus, BeadID: a.BeadID, Payload: payload{Status: "merged", PRURL: a.PRURL}})
			case r < 0.35:
				fx.events = append(fx.events, event{Type: evPRStatus, BeadID: a.BeadID, Payload: payload{Status: "closed", PRURL: a.PRURL}})
			}
		case "send_nudge":
			if t.rng.IntN(2) == 0 {
				delete(t.hung, a.AgentID) // the nudge woke it up
				fx.events = append(fx.events, event{Type: evAgentActivity, AgentID: a.AgentID})
			}
		case "stop_agent":
			if a.Reason == "dead" {
				fx.events = append(fx.events, event{Type: evAgentStopped, AgentID: a.AgentID})
			}
		}
	}
	return fx
}

func sleep(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}
