package grafana

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tickwatch/tickwatch/config"
)

const deployDir = "../deploy/grafana"

// TestGeneratedFilesUpToDate fails when deploy/grafana drifts from the code.
// `go generate ./grafana` (or go test ./grafana -update) refreshes it.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Files(config.DefaultThresholds(), DefaultFolder, DefaultDashboardsPath)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := WriteFiles(deployDir, files); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Errorf("%v (go generate ./grafana creates it)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from what the code generates; run go generate ./grafana", deployDir, name)
		}
	}
}

func TestProvisioningYAML(t *testing.T) {
	for _, tc := range []struct {
		folder, path string
	}{
		{"tickwatch", "/var/lib/grafana/dashboards/tickwatch"},
		{"ops-gastown", "/etc/dashboards"},
	} {
		raw, err := ProvisioningYAML(tc.folder, tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			APIVersion int `yaml:"apiVersion"`
			Providers  []map[string]any
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.APIVersion != 1 || len(doc.Providers) != 1 {
			t.Fatalf("apiVersion %d, %d providers", doc.APIVersion, len(doc.Providers))
		}
		p := doc.Providers[0]
		opts, _ := p["options"].(map[string]any)
		if p["folder"] != tc.folder || p["folderUid"] != tc.folder || p["type"] != "file" ||
			p["allowUiUpdates"] != false || opts["path"] != tc.path {
			t.Errorf("provider = %v", p)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	files := map[string][]byte{"a.json": []byte("{}\n"), "b.yml": []byte("x: 1\n")}
	if err := WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, map[string][]byte{"a.json": []byte("{\"v\":2}\n")}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"a.json", "b.yml"}) {
		t.Errorf("dir holds %v, want a.json b.yml and no temporary files", names)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.json")); string(got) != "{\"v\":2}\n" {
		t.Errorf("a.json = %q", got)
	}
	// A file where the directory should be is a clear error, not a crash.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(filepath.Join(blocker, "sub"), files); err == nil {
		t.Error("WriteFiles under a regular file succeeded")
	}
}
