package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadTownsFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                []string
	}{
		{"yaml list", "towns.yml", "- town-a\n- town-b\n# retired: town-z\n- town-c\n", []string{"town-a", "town-b", "town-c"}},
		{"yaml flow list", "towns.yml", "[town-a, town-b]\n", []string{"town-a", "town-b"}},
		{"yaml towns key", "towns.yml", "towns:\n  - town-a\n  - town-b\n", []string{"town-a", "town-b"}},
		{"json list", "towns.json", "[\n\t\"town-a\",\n\t\"town-b\"\n]\n", []string{"town-a", "town-b"}},
		{"json towns object (simtown /debug/towns)", "towns.json", `{"towns":["t-001","t-002","t-003"]}`, []string{"t-001", "t-002", "t-003"}},
		{"duplicates and spaces", "towns.yml", "- a\n- ' b '\n- a\n- b\n- c\n", []string{"a", "b", "c"}},
		{"numeric-looking ids stay text", "towns.yml", "- 007\n- 1e3\n", []string{"007", "1e3"}},
		{"empty list", "towns.json", "[]", []string{}},
		{"null towns", "towns.yml", "towns:\n", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadTownsFile(writeFile(t, tc.file, tc.content))
			if err != nil {
				t.Fatalf("ReadTownsFile: %v", err)
			}
			if got == nil {
				got = []string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadTownsFile = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadTownsFileRejects(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, want string // want has "F" for the file's path
	}{
		{"yaml empty id", "towns.yml", "- a\n- \"\"\n- c\n- '  '\n", "F:2: town id is empty\nF:4: town id is empty"},
		{"json empty id", "towns.json", "[\n  \"a\",\n  \"\"\n]\n", "F:3: town id is empty"},
		{"json object empty id", "towns.json", "{\"towns\": [\n  \"a\",\n\n  \"\"]}\n", "F:4: town id is empty"},
		{"yaml null entry", "towns.yml", "- a\n-\n", "F:2: town id must be a single value, got a single value"},
		{"yaml nested entry", "towns.yml", "- a\n- {id: b}\n", "F:2: town id must be a single value, got a mapping"},
		{"json number", "towns.json", "[\"a\",\n 7]", "F:2: town id must be a string, got a number"},
		{"json object of other key", "towns.json", `{"ids": ["a"]}`, `F:1: the file must be a list of town ids, or a mapping with the single key "towns"`},
		{"yaml mapping", "towns.yml", "a: 1\n", `F:1: the file must be a list of town ids, or a mapping with the single key "towns"`},
		{"yaml scalar", "towns.yml", "town-a\n", `F:1: the file must be a list of town ids, or a mapping with the single key "towns"`},
		{"json syntax", "towns.json", "[\"a\",\n\"b\"\n\"c\"]", "F:3: invalid JSON: expected comma after array element"},
		{"json truncated", "towns.json", "[\"a\",\n", "F:2: invalid JSON: unexpected end of file"},
		{"yaml tab", "towns.yml", "- a\n- b\n\t- c\n", "F:3: a tab indents this line; YAML allows only spaces"},
		{"empty file", "towns.yml", "", "F: the towns file is empty (a write in progress?); for no towns, write []"},
		{"blank file", "towns.json", " \n\t\n", "F: the towns file is empty (a write in progress?); for no towns, write []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.content)
			_, err := ReadTownsFile(path)
			if err == nil {
				t.Fatal("ReadTownsFile accepted it")
			}
			want := replaceF(tc.want, path)
			if err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.yml")
		_, err := ReadTownsFile(path)
		want := "read towns file: open " + path + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
}

func replaceF(s, path string) string {
	out := ""
	for i := 0; i < len(s); i++ {
		if s[i] == 'F' && (i == 0 || s[i-1] == '\n') {
			out += path
			continue
		}
		out += string(s[i])
	}
	return out
}
