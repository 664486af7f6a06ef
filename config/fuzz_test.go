package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

// FuzzParse: a file that parses is valid, and written back as YAML parses
// to a config that writes the same; a file that does not is told as problems, each on a
// line of the file.
func FuzzParse(f *testing.F) {
	f.Setenv(SentryDSNEnv, "")
	for _, s := range []string{specExample, everyKey, "", "# only a comment\n", "poll:\n  interval: 5s\n  intervall: 5s\n",
		"target:\n  http_client:\n    basic_auth: {username: u, password: p}\n    http_headers:\n      CF-Access-Client-Secret: {secrets: [s]}\n",
		"base: &b {interval: 10s}\npoll:\n  <<: *b\n", "poll:\n\tinterval: 5s\n", "shard: {index: 2, count: 2}\n", "target:\n  url: [\n"} {
		f.Add([]byte(s))
	}
	// Marshal secrets as they are, so the round trip can compare them.
	commoncfg.MarshalSecretValue = true
	f.Cleanup(func() { commoncfg.MarshalSecretValue = false })
	const name = "tickwatch.yml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, name)
		if err != nil {
			if cfg != nil {
				t.Fatalf("a config and an error: %v", err)
			}
			checkProblems(t, err, name, data)
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		// Without a file name: the paths are resolved already.
		again, err := Parse(out, "")
		if err != nil {
			t.Fatalf("the config written back does not parse: %v\n%s", err, out)
		}
		if back, _ := yaml.Marshal(again); !bytes.Equal(back, out) {
			t.Fatalf("round trip changed the config:\n%s\n%s", out, back)
		}
	})
}

// checkProblems: err holds at least one located problem, and each names
// the file and a line within it (or none), with a message.
func checkProblems(t *testing.T, err error, name string, data []byte) {
	t.Helper()
	ps := Problems(err)
	if len(ps) == 0 {
		t.Fatalf("an error without problems: %v", err)
	}
	// YAML breaks lines at \r\n, \r and \n: a file of CR line ends has
	// as many lines as its parser counts.
	crlf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	lines := bytes.Count(crlf, []byte("\n")) + bytes.Count(crlf, []byte("\r")) + 1
	for _, p := range ps {
		if p.File != name || p.Line < 0 || p.Line > lines || p.Msg == "" {
			t.Fatalf("problem %q: file %q line %d of %d", p.Error(), p.File, p.Line, lines)
		}
		if !utf8.ValidString(p.Msg) {
			t.Fatalf("problem message is not UTF-8: %q", p.Msg)
		}
	}
}

// FuzzReadTownsFile: the ids read are trimmed, distinct and non-empty, are
// encoding/json's reading of a JSON list, and read back the same from a
// file of them written as JSON or YAML.
func FuzzReadTownsFile(f *testing.F) {
	for _, s := range []string{"- town-a\n- town-b\n# retired: town-z\n- town-c\n", "[town-a, town-b]\n", "towns:\n  - town-a\n",
		"[\n\t\"town-a\",\n\t\"town-b\"\n]\n", `{"towns":["t-001","t-002","t-003"]}`, "- a\n- ' b '\n- a\n", "- 007\n- 1e3\n", "", "[]",
		"towns:\n", `["a", 1]`, "- [a]\n", "- \"\"\n", `{"towns":["a"],"more":1}`, "[\"a\"", "- &x a\n- *x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "towns")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ids, err := ReadTownsFile(path)
		if err != nil {
			checkProblems(t, err, path, data)
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if id == "" || id != strings.TrimSpace(id) || seen[id] {
				t.Fatalf("ids %q: empty, untrimmed or repeated %q", ids, id)
			}
			seen[id] = true
		}
		var list []string
		if json.Unmarshal(data, &list) == nil {
			want := []string{}
			for _, id := range list {
				if id = strings.TrimSpace(id); id != "" && !contains(want, id) {
					want = append(want, id)
				}
			}
			if len(ids) != len(want) || len(ids) > 0 && !reflect.DeepEqual(ids, want) {
				t.Fatalf("JSON list read as %q, want %q", ids, want)
			}
		}
		asJSON, _ := json.Marshal(ids)
		asYAML, _ := yaml.Marshal(ids)
		for _, b := range [][]byte{asJSON, asYAML} {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := ReadTownsFile(path)
			if err != nil || len(back) != len(ids) || len(ids) > 0 && !reflect.DeepEqual(back, ids) {
				t.Fatalf("ids %q written as %q read back as %q (%v)", ids, b, back, err)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
