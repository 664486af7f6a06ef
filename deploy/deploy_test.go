// Package deploy_test checks the hand-written deployment examples against the
// code: the config they carry must load, and the paths and ports they wire
// together must match.
package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tickwatch/tickwatch/config"
)

type manifest struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Args  []string `yaml:"args"`
					Ports []struct {
						ContainerPort int `yaml:"containerPort"`
					} `yaml:"ports"`
					ReadinessProbe struct {
						HTTPGet struct{ Path string } `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					LivenessProbe struct {
						HTTPGet struct{ Path string } `yaml:"httpGet"`
					} `yaml:"livenessProbe"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesManifestsFitTogether(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/tickwatch.yml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	byKind := map[string]manifest{}
	for {
		var m manifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		byKind[m.Kind+"/"+m.Metadata.Name] = m
	}
	cfgText := byKind["ConfigMap/tickwatch"].Data["tickwatch.yml"]
	cfg, err := config.Parse([]byte(cfgText), "ConfigMap tickwatch")
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load: %v", err)
	}
	if !strings.Contains(byKind["ConfigMap/tickwatch-towns"].Data["towns.yml"], "- ") {
		t.Error("the towns ConfigMap holds no list")
	}

	c := byKind["StatefulSet/tickwatch"].Spec.Template.Spec.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	want := map[string]string{
		"--config.file":        path.Join(mounts["config"], "tickwatch.yml"),
		"--web.listen-address": ":9917",
	}
	for _, a := range c.Args {
		if k, v, ok := strings.Cut(a, "="); ok && want[k] != "" && want[k] != v {
			t.Errorf("arg %s = %s, want %s", k, v, want[k])
		}
	}
	if mounts["state"] != cfg.Dedupe.StateDir {
		t.Errorf("state volume at %s, dedupe.state_dir is %s", mounts["state"], cfg.Dedupe.StateDir)
	}
	if mounts["towns"] != path.Dir(cfg.Target.TownsFile) {
		t.Errorf("towns volume at %s, towns_file is %s", mounts["towns"], cfg.Target.TownsFile)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9917 {
		t.Errorf("ports = %+v", c.Ports)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/-/ready" || c.LivenessProbe.HTTPGet.Path != "/-/healthy" {
		t.Errorf("probes = %q, %q", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if strings.Contains(cfgText, "dsn:") {
		t.Error("the ConfigMap names a DSN: it belongs in the Secret behind SENTRY_DSN")
	}
}
