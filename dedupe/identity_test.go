package dedupe

import (
	"testing"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestIdentity(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    gastown.Violation
		want string
	}{
		{"count replaced", vio(3, "Rig r1 has 2 in_progress MR beads (should be at most 1)"),
			"3:Rig r1 has # in_progress MR beads (should be at most #)"},
		{"other count same identity", vio(3, "Rig r1 has 3 in_progress MR beads (should be at most 1)"),
			"3:Rig r1 has # in_progress MR beads (should be at most #)"},
		{"uuid kept whole", vio(7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"),
			"7:Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"},
		{"all-digit uuid kept whole", vio(7, "Working agent 12345678-1234-1234-1234-123456789012 has no hook"),
			"7:Working agent 12345678-1234-1234-1234-123456789012 has no hook"},
		{"ids with digits kept", vio(6, "Bead b-issue-0042 has 2 agents hooked (should be at most 1)"),
			"6:Bead b-issue-0042 has # agents hooked (should be at most #)"},
		{"rig-2 kept", vio(3, "Rig rig-2 has 10 in_progress MR beads (should be at most 1)"),
			"3:Rig rig-2 has # in_progress MR beads (should be at most #)"},
		{"decimal and percent", vio(9, "load 0.75 over 90% for 12s"), "9:load # over # for 12s"},
		{"punctuation around numbers", vio(9, "counts: [3], (4), 5."), "9:counts: [#], (#), #."},
		{"empty message", vio(1, ""), "1:"},
		{"invariant distinguishes", vio(4, "Rig r1 has 2 in_progress MR beads (should be at most 1)"),
			"4:Rig r1 has # in_progress MR beads (should be at most #)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Identity(tc.v); got != tc.want {
				t.Errorf("Identity(%+v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want string
	}{
		{"Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90"},
		{"Convoy bead b-convoy-7 is in_progress (should only be open or closed)", "b-convoy-7"},
		{"Rig rig-main has 2 in_progress MR beads (should be at most 1)", "rig-main"},
		{"Bead b-issue-0042 has 2 agents hooked (should be at most 1)", "b-issue-0042"},
		{"Issue bead b-issue-0052 is in_review but has no open/in_progress MR bead", "b-issue-0052"},
		{"something odd about x-9 happened 3 times", "x-9"},
		{"nothing here", ""},
		{"", ""},
	} {
		if got := Subject(gastown.Violation{Invariant: 1, Message: tc.msg}); got != tc.want {
			t.Errorf("Subject(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func FuzzIdentity(f *testing.F) {
	f.Add("Rig r1 has 2 in_progress MR beads (should be at most 1)")
	f.Add("((((1")
	f.Add(" - . % ")
	f.Fuzz(func(t *testing.T, msg string) {
		v := gastown.Violation{Invariant: 3, Message: msg}
		id := Identity(v)
		// Normalising twice changes nothing: "#" is not a number.
		if again := "3:" + normalizeMessage(id[2:]); again != id {
			t.Fatalf("not idempotent: %q -> %q", id, again)
		}
		_ = Subject(v)
	})
}

func vio(inv int, msg string) gastown.Violation {
	return gastown.Violation{Invariant: inv, Message: msg}
}
