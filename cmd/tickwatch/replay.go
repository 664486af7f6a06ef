package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
)

func addReplay(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("replay", "Replay a town's events of a time window on the target and summarise what the reconciler would do.")
	configFile := cmd.Flag("config.file", "Configuration file: the target URL and HTTP client settings.").String()
	url := cmd.Flag("target.url", "The Gastown worker (overrides the config file).").String()
	town := cmd.Flag("town", "Town id.").Required().String()
	from := cmd.Flag("from", "Start of the window, ISO 8601 with any offset (e.g. 2026-11-28T09:00:00+01:00); sent in UTC with milliseconds, as Gastown stores event times.").Required().String()
	to := cmd.Flag("to", "End of the window, ISO 8601 (a time without an offset is UTC).").Required().String()
	mode := cmd.Flag("mode", `Replay mode: "" (Gastown's: on top of live state) or "faithful" (simtown: rebuilt as of --from).`).Default("").Enum("", "faithful")
	output := cmd.Flag("output", "Output format: table or json.").Default("table").Enum("table", "json")

	return cmd, func(ctx context.Context, _ *slog.Logger) error {
		cfg, err := config.Load(*configFile)
		if err != nil {
			return err
		}
		if *url != "" {
			cfg.Target.URL = *url
		}
		if cfg.Target.URL == "" {
			return fmt.Errorf("no target: give --target.url or a config file with target.url")
		}
		c, err := gastown.NewClient(gastown.ClientOptions{URL: cfg.Target.URL, HTTPClient: cfg.Target.HTTPClient,
			Timeout: 30 * time.Second, MaxBodyBytes: cfg.Poll.MaxBodyBytes})
		if err != nil {
			return err
		}
		// Gastown compares the bounds as strings with the stored created_at.
		var bounds [2]string
		for i, s := range []string{*from, *to} {
			t, err := gastown.ParseReplayBound(s)
			if err != nil {
				return fmt.Errorf("--%s: %w", []string{"from", "to"}[i], err)
			}
			bounds[i] = gastown.FormatReplayBound(t)
		}
		r, err := c.Replay(ctx, *town, gastown.ReplayRequest{From: bounds[0], To: bounds[1], Mode: *mode})
		if err != nil {
			return err
		}
		if *output == "json" {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}
		return printReplay(os.Stdout, *town, bounds[0], bounds[1], r)
	}
}

// printReplay writes a summary a person can read at three in the morning.
func printReplay(w io.Writer, town, from, to string, r *gastown.ReplayResponse) error {
	fmt.Fprintf(w, "Town %s, %s .. %s: %d events replayed\n", town, from, to, r.EventsReplayed)
	if r.Caveat != "" {
		fmt.Fprintf(w, "Note: %s\n", r.Caveat)
	}
	byType := map[string]int{}
	for _, a := range r.Actions {
		byType[a.Type]++
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nActions (%d)\tCount\n", len(r.Actions))
	for _, t := range types {
		fmt.Fprintf(tw, "%s\t%d\n", t, byType[t])
	}
	fmt.Fprintf(tw, "\nAgent\tRole\tStatus\tHook\tDispatches\tLast activity\n")
	for _, a := range r.StateSnapshot.Agents {
		hook := "-"
		if a.CurrentHookBeadID != nil && *a.CurrentHookBeadID != "" {
			hook = *a.CurrentHookBeadID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", a.BeadID, a.Role, a.Status, hook, a.DispatchAttempts, a.LastActivityAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "\nBead (not terminal)\tType\tStatus\tAssignee\tTitle\n")
	for _, b := range r.StateSnapshot.NonTerminalBeads {
		who := "-"
		if b.AssigneeAgentBeadID != nil && *b.AssigneeAgentBeadID != "" {
			who = *b.AssigneeAgentBeadID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.BeadID, b.Type, b.Status, who, b.Title)
	}
	return tw.Flush()
}
