package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tickwatch/tickwatch/simtown"
)

// The embedded fleet's demonstration, so that a first run shows the whole
// path within a minute: one town keeps invariant #7 (a working agent
// without a hook, which tickwatch derives from the status rows as it does
// for the real worker) broken for demoBroken, then heals for demoHealed,
// over and over: the violation opens, its one event is sent (or logged),
// and it resolves. Another town's queue grows by demoQueueStep every
// demoStep until it is past the critical threshold, then drains and grows
// again.
const (
	demoStep       = 10 * time.Second
	demoBroken     = 3 * time.Minute
	demoHealed     = 2 * time.Minute
	demoQueueStep  = 4
	demoQueueSteps = 18 // 72 events pending at the top, past queue_depth_critical (50)
	demoQueueRest  = 6  // steps drained before it grows again
)

// demoTowns picks the towns that play the demonstration: the third and
// the seventh when there are that many.
func demoTowns(ids []string) (broken, queue string) {
	switch len(ids) {
	case 0:
		return "", ""
	case 1, 2:
		return ids[0], ids[len(ids)-1]
	}
	return ids[2], ids[min(6, len(ids)-1)]
}

func runDemo(ctx context.Context, fleet *simtown.Fleet, logger *slog.Logger) {
	broken, queue := demoTowns(fleet.TownIDs())
	if broken == "" {
		return
	}
	logger = logger.With("component", "demo")
	logger.Info("demonstration: one town breaks invariant #7 now and then, another's queue grows",
		"invariant_town", broken, "broken_for", demoBroken, "healed_for", demoHealed, "queue_town", queue)
	cycle := int((demoBroken + demoHealed) / demoStep)
	t := time.NewTicker(demoStep)
	defer t.Stop()
	for step := 0; ; step++ {
		var f simtown.Fault
		if step%cycle < int(demoBroken/demoStep) {
			f.BreakInvariant = 7
		}
		if broken == queue {
			f.QueueDepth = queueAt(step)
			set(fleet, logger, broken, f)
		} else {
			set(fleet, logger, broken, f)
			set(fleet, logger, queue, simtown.Fault{QueueDepth: queueAt(step)})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// queueAt is the queue the demonstration holds at a step.
func queueAt(step int) int {
	if k := step % (demoQueueSteps + demoQueueRest); k < demoQueueSteps {
		return (k + 1) * demoQueueStep
	}
	return 0
}

func set(fleet *simtown.Fleet, logger *slog.Logger, town string, f simtown.Fault) {
	if old, err := fleet.Fault(town); err == nil && old == f {
		return
	}
	if err := fleet.SetFault(town, f); err != nil {
		logger.Warn("demonstration fault not set", "town", town, "err", err)
	}
}
