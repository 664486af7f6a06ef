package layers

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tickwatch/tickwatch/"

// allowed lists, for every package of the module, the packages of the
// module its non-test code may import directly. A package missing here
// fails the test, so a new package has to say where it stands.
var allowed = map[string][]string{
	// The leaves: what everything may read.
	"metricnames": nil,
	"config":      nil,
	"gastown":     {"internal/lastbykey"},

	// Shared plumbing and test support.
	"internal/atomicfile":  nil,
	"internal/durable":     nil,
	"internal/gastowntest": nil,
	"internal/heldheap":    nil,
	"internal/lastbykey":   nil,
	"internal/promtest":    nil,
	"internal/layers":      nil,
	"internal/seriesneeds": {"metricnames"},
	"internal/slab":        nil,
	"alerts/sentrytest":    nil,

	// One job each, over the leaves. alerts consumes dedupe's transitions.
	"exporter":     {"config", "gastown", "metricnames"},
	"dedupe":       {"gastown", "internal/durable", "internal/lastbykey", "internal/slab"},
	"alerts":       {"config", "dedupe", "gastown", "internal/durable"},
	"alerts/rules": {"config", "metricnames"},
	"grafana":      {"config", "metricnames", "internal/atomicfile"},
	"simtown":      {"gastown"},
	"statuspage":   {"alerts", "config", "dedupe", "exporter", "gastown", "internal/slab"},

	// The assembly, then the command line.
	"sidecar":       {"alerts", "config", "dedupe", "exporter", "gastown", "internal/atomicfile", "metricnames", "statuspage"},
	"cmd/tickwatch": {"alerts/rules", "config", "gastown", "grafana", "internal/atomicfile", "sidecar", "simtown"},

	// The soak and fault run (make soak), and test-only packages.
	"bench/soak":          {"alerts", "alerts/sentrytest", "bench/internal/proc", "dedupe", "gastown"},
	"bench/fleet":         {"alerts/sentrytest", "bench/internal/proc", "internal/gastowntest"},
	"bench/internal/proc": nil,
	"bench/workerload":    {"bench/internal/proc"},
	"deploy":              nil,
	"e2e":                 nil,
	"e2e/conformance":     nil,
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		may, known := allowed[name]
		if !known {
			t.Errorf("%s is not placed in the layers: add it to allowed and to docs/architecture.md", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if ours && !slices.Contains(may, dep) {
				t.Errorf("%s imports %s; it may import only %v of the project", name, dep, may)
			}
		}
	}
	if seen < len(allowed)/2 {
		t.Fatalf("go list saw %d packages; expected about %d", seen, len(allowed))
	}
}
