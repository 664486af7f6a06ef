package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// ReadTownsFile reads target.towns_file: a YAML or JSON list of town ids, or
// a mapping {towns: [ids]} (the shape of simtown's GET /debug/towns, so its
// answer can be saved as is). Ids are trimmed and de-duplicated, first
// occurrence first. An empty id, or an entry that is not a single value, is an
// error reading "file:line: ...". So is a file with nothing in it: that is
// what a writer that truncates before it writes leaves for a moment, and
// taken for no towns it would drop every town's open violations, to open
// them again once the file is written. No towns is [] (or "towns: []").
func ReadTownsFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read towns file: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: path, Msg: "the towns file is empty (a write in progress?); for no towns, write []"}
	}
	var towns []townEntry
	var errs []*Error
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '{') {
		// JSON, or a YAML flow list like [a, b]: when JSON fails, YAML
		// decides, and the JSON error stands only if YAML fails too.
		towns, errs = townsFromJSON(data, path)
		if len(errs) > 0 && strings.HasPrefix(errs[0].Msg, "invalid JSON") {
			if yamlTowns, yamlErrs := townsFromYAML(data, path); len(yamlErrs) == 0 {
				towns, errs = yamlTowns, nil
			}
		}
	} else {
		towns, errs = townsFromYAML(data, path)
	}
	if len(errs) > 0 {
		return nil, join(errs)
	}
	seen := make(map[string]bool, len(towns))
	ids := make([]string, 0, len(towns))
	for _, t := range towns {
		id := strings.TrimSpace(t.id)
		if id == "" {
			errs = append(errs, &Error{File: path, Line: t.line, Msg: "town id is empty"})
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(errs) > 0 {
		return nil, join(errs)
	}
	return ids, nil
}

type townEntry struct {
	id   string
	line int
}

const townsShape = "must be a list of town ids, or a mapping with the single key \"towns\""

func townsFromYAML(data []byte, path string) ([]townEntry, []*Error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, []*Error{syntaxError(path, data, err)}
	}
	top := documentContent(&root)
	if top == nil {
		return nil, nil
	}
	top = resolveAlias(top)
	if top.Kind == yaml.MappingNode {
		if len(top.Content) != 2 || top.Content[0].Value != "towns" {
			return nil, []*Error{{File: path, Line: top.Line, Msg: "the file " + townsShape}}
		}
		top = resolveAlias(top.Content[1])
	}
	if isNull(top) {
		return nil, nil
	}
	if top.Kind != yaml.SequenceNode {
		return nil, []*Error{{File: path, Line: top.Line, Msg: "the file " + townsShape}}
	}
	var out []townEntry
	var errs []*Error
	for _, item := range top.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			errs = append(errs, &Error{File: path, Line: item.Line, Msg: "town id must be a single value, got " + describeNode(item)})
			continue
		}
		out = append(out, townEntry{id: item.Value, line: item.Line})
	}
	return out, errs
}

// townsFromJSON reads JSON with a token decoder so each id keeps its line.
func townsFromJSON(data []byte, path string) ([]townEntry, []*Error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lineAt := func(offset int64) int { return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n")) }
	fail := func(offset int64, format string, args ...any) ([]townEntry, []*Error) {
		return nil, []*Error{{File: path, Line: lineAt(offset), Msg: fmt.Sprintf(format, args...)}}
	}
	syntax := func(err error) ([]townEntry, []*Error) {
		if se, ok := err.(*json.SyntaxError); ok {
			return fail(se.Offset, "invalid JSON: %v", se)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fail(int64(len(data)), "invalid JSON: unexpected end of file")
		}
		return fail(dec.InputOffset(), "invalid JSON: %v", err)
	}

	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if tok == json.Delim('{') {
		key, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		if key != "towns" {
			return fail(dec.InputOffset(), "the file %s", townsShape)
		}
		if tok, err = dec.Token(); err != nil {
			return syntax(err)
		}
	}
	if tok != json.Delim('[') {
		return fail(dec.InputOffset(), "the file %s", townsShape)
	}
	var out []townEntry
	for dec.More() {
		start := dec.InputOffset()
		var v any
		if err := dec.Decode(&v); err != nil {
			return syntax(err)
		}
		// The value starts after any separator and spaces following start.
		line := lineAt(start + int64(len(data[start:])-len(bytes.TrimLeft(data[start:], ", \t\r\n"))))
		s, ok := v.(string)
		if !ok {
			return nil, []*Error{{File: path, Line: line, Msg: "town id must be a string, got " + jsonKind(v)}}
		}
		out = append(out, townEntry{id: s, line: line})
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return syntax(err)
	}
	return out, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
