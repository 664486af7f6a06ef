package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with a configuration, located in its file when possible.
// Its text reads "file:line: what is wrong", "file: what is wrong" when the
// offending value is a default that the file does not mention, or just
// "what is wrong" when no file is involved.
type Error struct {
	File string // the config file as named to Parse; empty for problems outside any file
	Line int    // 1-based line in File; 0 when unknown
	// Keys are the key paths the problem is about, e.g. "poll.interval" or
	// "target.towns[2]". The first one written in the file gives Line.
	Keys []string
	Msg  string // what is wrong, without file and line
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	default:
		return e.Msg
	}
}

// Problems returns every *Error inside err (as joined by Parse or Validate),
// in order. Errors of other types are not included.
func Problems(err error) []*Error {
	var out []*Error
	var visit func(error)
	visit = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				visit(inner)
			}
			return
		}
		if inner := errors.Unwrap(err); inner != nil {
			visit(inner)
		}
	}
	visit(err)
	return out
}

// join sorts problems by line so the report reads top to bottom, and joins
// them one per line. It returns nil for no problems.
func join(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].File != errs[j].File {
			return errs[i].File < errs[j].File
		}
		return errs[i].Line < errs[j].Line
	})
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

var (
	yamlSyntaxRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlTypeRe   = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlFieldRe  = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// tabIndent finds the first line indented with a tab, which YAML forbids and
// yaml.v3 reports without a line.
func tabIndent(data []byte) int {
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "\t") {
			return i + 1
		}
	}
	return 0
}

// fromYAMLMessage turns one yaml.v3 message ("yaml: line 3: ..." or "line 3:
// ...") into an *Error of file. Messages without a line keep the file only.
func fromYAMLMessage(file, msg string) *Error {
	line := 0
	for _, re := range []*regexp.Regexp{yamlSyntaxRe, yamlTypeRe} {
		if m := re.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
			break
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlFieldRe.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown key %q", m[1])
	}
	return &Error{File: file, Line: line, Msg: msg}
}
