package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// keyWalker goes over the YAML tree next to the Go types it will be decoded
// into. It records the line of every key path (so validation errors can
// point at a line) and reports unknown keys and values of the wrong type with
// their full key path, which yaml.v3's own messages lack.
type keyWalker struct {
	file  string
	lines map[string]int // key path ("poll.interval", "target.towns[1]") → line
	errs  []*Error
}

var (
	unmarshalerType   = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	obsoleteUnmarshal = reflect.TypeOf((*interface{ UnmarshalYAML(func(any) error) error })(nil)).Elem()
	durationType      = reflect.TypeOf(model.Duration(0))
	secretType        = reflect.TypeOf(commoncfg.Secret(""))
	secretHidden      = "(value hidden: it is a secret)"
)

func (w *keyWalker) fail(line int, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Keys: []string{path}, Msg: fmt.Sprintf(format, args...)})
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func hasUnmarshaler(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerType) || p.Implements(obsoleteUnmarshal)
}

// walk checks n against the type of v at key path and stores what fits into
// v (which must be settable), so a file with some bad keys still yields the
// good ones for validation.
func (w *keyWalker) walk(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if n == nil || isNull(n) {
		return
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !hasUnmarshaler(t.Elem()) {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		w.walk(n, v.Elem(), path)
		return
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && !hasUnmarshaler(t):
		w.walkStruct(n, v, path)
	case st.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		// A struct with its own unmarshaler (HTTPClientConfig, TLSConfig):
		// locate problems in its keys first, then let it check itself.
		before := len(w.errs)
		w.walkStruct(n, reflect.New(st).Elem(), path)
		if len(w.errs) == before {
			w.decodeLeaf(n, v, path)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode && !hasUnmarshaler(t):
		before := len(w.errs)
		for i, item := range n.Content {
			itemPath := fmt.Sprintf("%s[%d]", path, i)
			w.lines[itemPath] = item.Line
			w.walk(item, reflect.New(t.Elem()).Elem(), itemPath)
		}
		if len(w.errs) == before {
			w.decodeLeaf(n, v, path)
		}
	default:
		w.decodeLeaf(n, v, path)
	}
}

func (w *keyWalker) walkStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n.Line, path, "%s must be a mapping of keys, got %s", describePath(path), describeNode(n))
		return
	}
	fields, inlineMap := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Value == "<<" { // merge key: the merged mapping belongs here too
			for _, m := range mergeSources(value) {
				w.walkStruct(m, v, path)
			}
			continue
		}
		index, ok := fields[key.Value]
		if !ok && inlineMap != nil { // e.g. http_headers: any header name is a key
			child := path + "." + key.Value
			w.lines[child] = key.Line
			m := v.FieldByIndex(inlineMap)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			elem := reflect.New(m.Type().Elem()).Elem()
			w.walk(value, elem, child)
			m.SetMapIndex(reflect.ValueOf(key.Value).Convert(m.Type().Key()), elem)
			continue
		}
		if !ok {
			hint := ""
			if near := nearest(key.Value, slices.Sorted(maps.Keys(fields))); near != "" {
				hint = fmt.Sprintf("; did you mean %q?", near)
			}
			if path == "" {
				w.fail(key.Line, key.Value, "unknown key %q%s", key.Value, hint)
			} else {
				w.fail(key.Line, path+"."+key.Value, "unknown key %q in %s%s", key.Value, path, hint)
			}
			continue
		}
		child := key.Value
		if path != "" {
			child = path + "." + key.Value
		}
		w.lines[child] = key.Line
		field, err := v.FieldByIndexErr(index)
		if err != nil { // inside a nil inline pointer: check only
			field = reflect.New(fieldType(v.Type(), index)).Elem()
		}
		w.walk(value, field, child)
	}
}

func fieldType(t reflect.Type, index []int) reflect.Type {
	for _, i := range index {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = t.Field(i).Type
	}
	return t
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			out = append(out, mergeSources(c)...)
		}
		return out
	}
	return nil
}

// decodeLeaf decodes n into v when it fits, and reports why when it does not.
// The report points at the key's line: a value on the next lines (a block
// mapping) is still about that key.
func (w *keyWalker) decodeLeaf(n *yaml.Node, v reflect.Value, path string) {
	fresh := reflect.New(v.Type())
	if err := n.Decode(fresh.Interface()); err != nil {
		line, ok := w.lines[path]
		if !ok {
			line = n.Line
		}
		w.fail(line, path, "%s", leafMessage(n, v.Type(), path, err))
		return
	}
	v.Set(fresh.Elem())
}

// leafMessage says in user terms why n does not fit type t. It never repeats
// the value of a secret.
func leafMessage(n *yaml.Node, t reflect.Type, path string, err error) string {
	shown := strconv.Quote(n.Value)
	if t == secretType {
		shown = secretHidden
	}
	if n.Kind != yaml.ScalarNode && t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Map {
		return fmt.Sprintf("%s must be a single value, got %s", path, describeNode(n))
	}
	switch {
	case t == durationType && strings.HasPrefix(strings.TrimSpace(n.Value), "-"):
		return fmt.Sprintf("%s must not be negative, got %s", path, shown)
	case t == durationType:
		return fmt.Sprintf("%s: %s is not a duration (write e.g. 500ms, 5s, 1m, 24h, 1d)", path, shown)
	case t == secretType:
		return fmt.Sprintf("%s must be a string %s", path, shown)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("%s must be a whole number, got %s", path, shown)
	case reflect.Float32, reflect.Float64:
		return fmt.Sprintf("%s must be a number, got %s", path, shown)
	case reflect.Bool:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			// A template's "false": in quotes it is a string.
			return fmt.Sprintf("%s must be true or false without quotes, got the string %s", path, shown)
		}
		return fmt.Sprintf("%s must be true or false, got %s", path, shown)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Sprintf("%s must be a list, got %s", path, describeNode(n))
		}
	}
	// Anything else (an HTTP client option that failed its own checks): keep
	// the library's words, minus yaml.v3's own line prefixes.
	var msgs []string
	if te, ok := err.(*yaml.TypeError); ok {
		if t.Kind() == reflect.Struct && n.Kind != yaml.MappingNode {
			return fmt.Sprintf("%s must be a mapping of keys, got %s", path, describeNode(n))
		}
		for _, m := range te.Errors {
			msgs = append(msgs, fromYAMLMessage("", m).Msg)
		}
	} else {
		msgs = append(msgs, err.Error())
	}
	msg := strings.Join(msgs, "; ")
	if strings.Contains(n.Value, "@") {
		// A URL with user:password@ in it: do not echo the credentials.
		msg = strings.ReplaceAll(msg, n.Value, redactUserinfo(n.Value))
	}
	return fmt.Sprintf("%s: %s", path, msg)
}

func describePath(path string) string {
	if path == "" {
		return "the config file"
	}
	return path
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return "a single value"
	}
}

// yamlFields maps each yaml key of struct t to its field index, following
// ",inline" structs the way yaml.v3 does. inlineMap is the index of an
// ",inline" map that takes every other key, or nil.
func yamlFields(t reflect.Type) (out map[string][]int, inlineMap []int) {
	out = map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				fields, innerMap := yamlFields(ft)
				for k, inner := range fields {
					out[k] = append([]int{i}, inner...)
				}
				if innerMap != nil {
					inlineMap = append([]int{i}, innerMap...)
				}
			case reflect.Map:
				inlineMap = []int{i}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out, inlineMap
}

// nearest is the name a mistyped key most likely meant: the first of names
// within two edits of it, and closer than half its length; "" for none.
func nearest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(key, n); d < bestD && 2*d < len(key) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// neighbours that turn a into b.
func editDistance(a, b string) int {
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
