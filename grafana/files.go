package grafana

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/atomicfile"
)

//go:generate go test -run TestGeneratedFilesUpToDate -update .

// Files are the generated dashboard JSON and its provisioning YAML, by file name.
func Files(th config.Thresholds, folder, dashboardsPath string) (map[string][]byte, error) {
	dash, err := DashboardJSON(th)
	if err != nil {
		return nil, err
	}
	prov, err := ProvisioningYAML(folder, dashboardsPath)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{DashboardFile: dash, ProvisioningFile: prov}, nil
}

// WriteFiles writes files into dir, creating it, each through a temporary
// file and a rename so Grafana's file watcher never reads half a dashboard.
func WriteFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := atomicfile.Write(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}
