// Package dedupe tracks each town's set of invariant violations across polls
// and reports only the changes (opened, resolved, repeated), with hysteresis
// and a durable state, so that a violation that persists is told once.
package dedupe

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/tickwatch/tickwatch/gastown"
)

// Identity is a violation's identity: its invariant number and its message
// with standalone numbers (counts) replaced by "#". "Rig r1 has 2 in_progress
// MR beads" and "Rig r1 has 3 ..." are the same violation; ids such as
// "rig-2", "b-issue-0042" or a UUID are kept whole because their digits are
// not standalone.
func Identity(v gastown.Violation) string {
	return strconv.Itoa(v.Invariant) + ":" + normalizeMessage(v.Message)
}

// normalizeMessage replaces every whitespace-separated token that is a bare
// number (after trimming surrounding punctuation) with "#".
func normalizeMessage(msg string) string {
	var b strings.Builder
	b.Grow(len(msg))
	i := 0
	for i < len(msg) {
		// Copy whitespace through unchanged.
		if isSpace(msg[i]) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		j := i
		for j < len(msg) && !isSpace(msg[j]) {
			j++
		}
		b.WriteString(normalizeToken(msg[i:j]))
		i = j
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

const (
	leadingPunct  = "([{'\"<"
	trailingPunct = ")]}'\",;:.!?>"
)

func normalizeToken(tok string) string {
	core := strings.TrimLeft(tok, leadingPunct)
	lead := tok[:len(tok)-len(core)]
	trimmed := strings.TrimRight(core, trailingPunct)
	trail := core[len(trimmed):]
	if !isNumber(trimmed) {
		return tok
	}
	return lead + "#" + trail
}

// isNumber reports whether s is a count or measure: optional sign, digits,
// an optional decimal part and an optional unit-less percent sign.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	s = strings.TrimPrefix(s, "+")
	s = strings.TrimSuffix(s, "%")
	if s == "" {
		return false
	}
	digits, dots := 0, 0
	for k := 0; k < len(s); k++ {
		switch c := s[k]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && k > 0 && k < len(s)-1:
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// subjectLeads are the words that precede the id a Gastown invariant message
// is about, longest first so "Working agent" wins over "agent".
var subjectLeads = []string{"Working agent ", "Convoy bead ", "Issue bead ", "Bead ", "Rig ", "agent ", "bead ", "rig "}

// Subject is the id a violation message is about (the agent, bead or rig
// id), used by group_by "subject". Unknown message shapes yield the first
// token that looks like an id (contains a digit or a dash and is not a bare
// number), or "" when there is none.
func Subject(v gastown.Violation) string {
	msg := v.Message
	for _, lead := range subjectLeads {
		if k := strings.Index(msg, lead); k >= 0 {
			rest := msg[k+len(lead):]
			if id := firstToken(rest); id != "" && !isNumber(id) {
				return id
			}
		}
	}
	for _, tok := range strings.Fields(msg) {
		tok = strings.Trim(tok, leadingPunct+trailingPunct)
		if tok == "" || isNumber(tok) {
			continue
		}
		if strings.IndexFunc(tok, func(r rune) bool { return unicode.IsDigit(r) || r == '-' }) >= 0 {
			return tok
		}
	}
	return ""
}

func firstToken(s string) string {
	for k := 0; k < len(s); k++ {
		if isSpace(s[k]) { // the same separators as the identity's
			s = s[:k]
			break
		}
	}
	return strings.Trim(s, leadingPunct+trailingPunct)
}
