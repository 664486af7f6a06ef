package dedupe

import (
	"regexp"
	"strings"
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

// numberToken is what the identity calls a standalone number, written out
// independently of the code: a whitespace-separated token of optional
// brackets or quotes, an optional sign, digits with an optional decimal part
// and percent sign, and optional closing punctuation.
var numberToken = regexp.MustCompile(`^[(\[{'"<]*-?\+?[0-9]+(\.[0-9]+)?%?[)\]}'",;:.!?>]*$`)

var digitRun = regexp.MustCompile(`[0-9]+`)

// tokens splits msg at the whitespace the identity splits at, keeping the
// separators, so that joining the parts gives msg back.
func tokens(msg string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(msg); i++ {
		if i == len(msg) || strings.IndexByte(" \t\n\r", msg[i]) >= 0 {
			if i > start {
				out = append(out, msg[start:i])
			}
			if i < len(msg) {
				out = append(out, msg[i:i+1])
			}
			start = i + 1
		}
	}
	return out
}

// FuzzIdentity: the identity (and the subject) of a message does not change
// when any of its numbers does, and does change when a digit of an id does.
func FuzzIdentity(f *testing.F) {
	for _, m := range []string{
		"Rig r1 has 2 in_progress MR beads (should be at most 1)",
		"Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook",
		"Bead b-issue-0042 has 2 agents hooked (should be at most 1)",
		"Convoy bead b-convoy-7 is in_progress (should only be open or closed)",
		"Issue bead b-issue-0052 is in_review but has no open/in_progress MR bead",
		"The reconciler counted 3 invariant violations that the status rows do not name",
		"load 0.75 over 90% for 12s", "counts: [3], (4), 5.", "((((1", " - . % ", "",
	} {
		f.Add(m, "7")
	}
	f.Fuzz(func(t *testing.T, msg, digits string) {
		digits = strings.Map(func(r rune) rune {
			if r < '0' || r > '9' {
				return -1
			}
			return r
		}, digits)
		if digits == "" {
			digits = "9"
		}
		v := vio(3, msg)
		id, subject := Identity(v), Subject(v)
		if again := "3:" + normalizeMessage(id[2:]); again != id {
			t.Fatalf("not idempotent: %q -> %q", id, again)
		}
		// Every number takes other digits (and another length).
		parts := tokens(msg)
		changed := make([]string, len(parts))
		for i, p := range parts {
			changed[i] = p
			if numberToken.MatchString(p) {
				changed[i] = digitRun.ReplaceAllString(p, digits)
			}
		}
		w := vio(3, strings.Join(changed, ""))
		if got := Identity(w); got != id {
			t.Fatalf("numbers changed, identity changed:\n%q -> %q\n%q -> %q", msg, id, w.Message, got)
		}
		if got := Subject(w); got != subject {
			t.Fatalf("numbers changed, subject changed:\n%q -> %q\n%q -> %q", msg, subject, w.Message, got)
		}
		// A digit of anything that is not a number is part of the identity.
		for i, p := range parts {
			k := strings.IndexAny(p, "0123456789")
			if k < 0 || numberToken.MatchString(p) {
				continue
			}
			other := append([]string(nil), parts...)
			other[i] = p[:k] + string('0'+(p[k]-'0'+1)%10) + p[k+1:]
			if u := vio(3, strings.Join(other, "")); Identity(u) == id {
				t.Fatalf("%q and %q have one identity %q", msg, u.Message, id)
			}
			break
		}
	})
}

func vio(inv int, msg string) gastown.Violation {
	return gastown.Violation{Invariant: inv, Message: msg}
}
