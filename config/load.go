package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// SentryDSNEnv names the environment variable that supplies sentry.dsn when
// the file names none.
const SentryDSNEnv = "SENTRY_DSN"

// Load reads the config file at path and parses it. An empty path means no
// file: the defaults (plus SENTRY_DSN).
func Load(path string) (*Config, error) {
	if path == "" {
		return Parse(nil, "")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse builds a Config from the YAML in data: the defaults, overlaid with the
// file (strictly: an unknown key is an error), then SENTRY_DSN when the file
// names no DSN, then relative paths resolved against filename's directory, then
// Validate. Every problem found is reported, one *Error per line, each reading
// "filename:line: what is wrong".
func Parse(data []byte, filename string) (*Config, error) {
	cfg := Default()
	w := &keyWalker{file: filename, lines: map[string]int{}}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, join([]*Error{syntaxError(filename, data, err)})
	}
	if doc := documentContent(&root); doc != nil {
		// The walk stores what fits and reports what does not, with key
		// paths; a file with a bad key is still validated in full.
		w.walk(doc, reflect.ValueOf(&cfg).Elem(), "")
		if len(w.errs) == 0 {
			// The strict decoder is the authority on what a clean file
			// means, and catches anything the walk cannot see.
			cfg = Default()
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
				return nil, join(decodeErrors(filename, err))
			}
		}
	}

	dsnFromEnv := false
	if cfg.Sentry.DSN == "" {
		if dsn := os.Getenv(SentryDSNEnv); dsn != "" {
			cfg.Sentry.DSN = commoncfg.Secret(dsn)
			dsnFromEnv = true
		}
	}
	if filename != "" {
		resolvePaths(&cfg, filepath.Dir(filename), w.lines)
	}

	all := w.errs
	reported := map[string]bool{}
	for _, e := range w.errs {
		reported[e.Keys[0]] = true
	}
	for _, p := range Problems(cfg.Validate()) {
		if reported[p.Keys[0]] {
			continue // the value there did not even parse; said so already
		}
		p.File, p.Line = filename, lineOf(w.lines, p.Keys)
		if dsnFromEnv && p.Keys[0] == "sentry.dsn" {
			p.File, p.Msg = "", "environment "+SentryDSNEnv+": "+p.Msg
		}
		all = append(all, p)
	}
	if err := join(all); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// syntaxError locates a YAML syntax error; a tab used for indentation gets
// a line and a hint, which yaml.v3 gives neither.
func syntaxError(filename string, data []byte, err error) *Error {
	e := fromYAMLMessage(filename, err.Error())
	if e.Line == 0 || strings.Contains(e.Msg, "cannot start any token") || strings.Contains(e.Msg, "tab character") {
		if line := tabIndent(data); line > 0 {
			e.Line, e.Msg = line, "a tab indents this line; YAML allows only spaces"
		}
	}
	return e
}

// documentContent returns the top node of a YAML document, or nil for an
// empty file (or one holding only comments).
func documentContent(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	return nil
}

func decodeErrors(filename string, err error) []*Error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]*Error, 0, len(te.Errors))
		for _, m := range te.Errors {
			out = append(out, fromYAMLMessage(filename, m))
		}
		return out
	}
	return []*Error{fromYAMLMessage(filename, err.Error())}
}

func lineOf(lines map[string]int, keys []string) int {
	for _, k := range keys {
		if l, ok := lines[k]; ok {
			return l
		}
	}
	return 0
}

// resolvePaths makes the relative paths written in the file relative to the
// file's directory. Defaults the file does not mention keep their meaning
// (relative to the working directory).
func resolvePaths(cfg *Config, dir string, written map[string]int) {
	join := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if _, ok := written["target.towns_file"]; ok {
		cfg.Target.TownsFile = join(cfg.Target.TownsFile)
	}
	if _, ok := written["sentry.auth_token_file"]; ok {
		cfg.Sentry.AuthTokenFile = join(cfg.Sentry.AuthTokenFile)
	}
	if _, ok := written["dedupe.state_dir"]; ok {
		cfg.Dedupe.StateDir = join(cfg.Dedupe.StateDir)
	}
	cfg.Target.HTTPClient.SetDirectory(dir)
}
