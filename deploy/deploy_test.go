// Package deploy_test checks the deployment files against the code: every
// Kubernetes document decodes strictly into its API type, the config they
// carry loads, and the args, mounts, probes, ports and shard wiring fit what
// the binary reads.
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
)

// objects are the decoded documents of the Kubernetes files, by kind/name.
type objects map[string]any

// decodeStrict reads every document of a multi-document YAML file into the
// API type of its apiVersion and kind. A field the type does not have, a
// duplicate field, or a kind this test does not know is an error: a typo
// that kubectl would reject, or silently drop, fails here.
func decodeStrict(t *testing.T, file string, into objects) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &head.Object); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		var obj any
		switch gvk := head.GetAPIVersion() + " " + head.GetKind(); gvk {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "monitoring.coreos.com/v1 PodMonitor":
			obj = &monitoringv1.PodMonitor{}
		case "monitoring.coreos.com/v1 PrometheusRule":
			obj = &monitoringv1.PrometheusRule{}
		default:
			t.Fatalf("%s document %d: %s is not a kind this test checks", file, i, gvk)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s document %d (%s %s): %v", file, i, head.GetKind(), head.GetName(), err)
		}
		key := head.GetKind() + "/" + head.GetName()
		if _, dup := into[key]; dup {
			t.Fatalf("%s: two documents %s", file, key)
		}
		into[key] = obj
	}
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func get[T any](t *testing.T, objs objects, key string) T {
	t.Helper()
	o, ok := objs[key].(T)
	if !ok {
		t.Fatalf("no %s in deploy/kubernetes", key)
	}
	return o
}

func kubernetesObjects(t *testing.T) objects {
	objs := objects{}
	decodeStrict(t, "kubernetes/tickwatch.yml", objs)
	decodeStrict(t, "kubernetes/tickwatch-prometheusrule.yml", objs)
	return objs
}

func TestStrictDecodingCatchesATypo(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  replica: 3\n")
	err := yaml.UnmarshalStrict(doc, &appsv1.StatefulSet{})
	if err == nil || !strings.Contains(err.Error(), `unknown field "replica"`) {
		t.Fatalf("a misspelt field decoded: %v", err)
	}
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// args turns --name=value arguments into a map; the rest are positional.
func args(list []string) (flags map[string]string, positional []string) {
	flags = map[string]string{}
	for _, a := range list {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			flags[k] = v
		} else {
			positional = append(positional, a)
		}
	}
	return flags, positional
}

func TestKubernetesManifestsFitTogether(t *testing.T) {
	objs := kubernetesObjects(t)
	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap/tickwatch")
	towns := get[*corev1.ConfigMap](t, objs, "ConfigMap/tickwatch-towns")
	svc := get[*corev1.Service](t, objs, "Service/tickwatch")
	sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/tickwatch")
	pdb := get[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget/tickwatch")
	pm := get[*monitoringv1.PodMonitor](t, objs, "PodMonitor/tickwatch")
	pr := get[*monitoringv1.PrometheusRule](t, objs, "PrometheusRule/tickwatch")

	cfgText := cm.Data["tickwatch.yml"]
	cfg, err := config.Parse([]byte(cfgText), "ConfigMap tickwatch")
	if err != nil {
		t.Fatalf("the ConfigMap's config does not load: %v", err)
	}
	if strings.Contains(cfgText, "dsn:") {
		t.Error("the ConfigMap names a DSN: it belongs in the Secret behind SENTRY_DSN")
	}
	townsFile := filepath.Join(t.TempDir(), path.Base(cfg.Target.TownsFile))
	if err := os.WriteFile(townsFile, []byte(towns.Data[path.Base(cfg.Target.TownsFile)]), 0o644); err != nil {
		t.Fatal(err)
	}
	if ids, err := config.ReadTownsFile(townsFile); err != nil || len(ids) == 0 {
		t.Errorf("the towns ConfigMap holds no list under %s: %v %v", path.Base(cfg.Target.TownsFile), ids, err)
	}

	// The pods: one StatefulSet, a headless Service for its names, a
	// budget, a PodMonitor; all select the template's labels.
	pod := sts.Spec.Template
	for what, sel := range map[string]map[string]string{
		"StatefulSet selector": sts.Spec.Selector.MatchLabels, "Service selector": svc.Spec.Selector,
		"PodDisruptionBudget selector": pdb.Spec.Selector.MatchLabels, "PodMonitor selector": pm.Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
			t.Errorf("%s %v does not select the pods %v", what, sel, pod.Labels)
		}
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || sts.Spec.ServiceName != svc.Name {
		t.Errorf("StatefulSet serviceName %q, Service %q clusterIP %q: want the headless Service", sts.Spec.ServiceName, svc.Name, svc.Spec.ClusterIP)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1: one shard's towns unwatched at a time", pdb.Spec.MaxUnavailable)
	}

	c := container(t, pod.Spec, "tickwatch")
	flags, positional := args(c.Args)
	if !slices.Equal(positional, []string{"run"}) {
		t.Errorf("positional args %v, want [run]", positional)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if got, want := flags["--config.file"], path.Join(mounts["config"].MountPath, "tickwatch.yml"); got != want {
		t.Errorf("--config.file = %q, want %q (the config volume's file)", got, want)
	}
	if got, want := mounts["state"].MountPath, cfg.Dedupe.StateDir; got != want {
		t.Errorf("state volume at %q, dedupe.state_dir is %q", got, want)
	}
	if got, want := mounts["towns"].MountPath, path.Dir(cfg.Target.TownsFile); got != want {
		t.Errorf("towns volume at %q, towns_file is in %q", got, want)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for name, cmName := range map[string]string{"config": cm.Name, "towns": towns.Name} {
		if v := volumes[name]; v.ConfigMap == nil || v.ConfigMap.Name != cmName {
			t.Errorf("volume %s is not ConfigMap %s: %+v", name, cmName, v)
		}
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "state" {
		t.Errorf("volumeClaimTemplates %v, want one named state: each shard keeps its own outbox and dedupe state", sts.Spec.VolumeClaimTemplates)
	}

	// Ports and probes: the listen address, the named port the probes,
	// the Service and the PodMonitor use.
	if got := flags["--web.listen-address"]; got != ":9917" {
		t.Errorf("--web.listen-address = %q", got)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9917 || c.Ports[0].Name != "http-metrics" {
		t.Errorf("ports = %+v, want http-metrics 9917", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		want := map[string]string{"readiness": "/-/ready", "liveness": "/-/healthy"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http-metrics" {
			t.Errorf("%s probe %+v, want GET %s on http-metrics", name, p, want)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http-metrics" {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port == nil ||
		*pm.Spec.PodMetricsEndpoints[0].Port != "http-metrics" || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
		t.Errorf("PodMonitor endpoints %+v, want /metrics on http-metrics", pm.Spec.PodMetricsEndpoints)
	}
	// The job the rules watch is what the PodMonitor names the scrape job.
	job := pod.Labels[pm.Spec.JobLabel]
	if job == "" || !strings.Contains(pr.Spec.Groups[0].Rules[0].Expr.String(), fmt.Sprintf("up{job=%q}", job)) {
		t.Errorf("PodMonitor jobLabel %q gives job %q; TickwatchDown watches %q", pm.Spec.JobLabel, job, pr.Spec.Groups[0].Rules[0].Expr.String())
	}
	if pr.Spec.Groups[0].Name != rules.GroupName || len(pr.Spec.Groups[0].Rules) != len(rules.Alerts(config.DefaultThresholds(), rules.Options{})) {
		t.Errorf("PrometheusRule group %q with %d rules", pr.Spec.Groups[0].Name, len(pr.Spec.Groups[0].Rules))
	}

	// Security: a non-root user (the image's), a read-only root file
	// system, and the state directory is the only place it writes.
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != imageUID {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and runAsUser %d", sc, imageUID)
	}
	for _, c := range pod.Spec.Containers {
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("container %s has a writable root file system", c.Name)
		}
	}
	if mounts["state"].ReadOnly {
		t.Errorf("state volume mounted read-only: the outbox and dedupe state live there")
	}

	// The reloader watches the config volume and reloads this pod's tickwatch.
	r := container(t, pod.Spec, "config-reloader")
	rflags, _ := args(r.Args)
	if got := rflags["--watched-dir"]; got != mounts["config"].MountPath {
		t.Errorf("config reloader watches %q, the config is in %q", got, mounts["config"].MountPath)
	}
	if got, want := rflags["--reload-url"], "http://127.0.0.1"+flags["--web.listen-address"]+"/-/reload"; got != want {
		t.Errorf("config reloader reloads %q, want %q", got, want)
	}
}

// imageUID is the user the Dockerfile runs as.
const imageUID = 65534

// TestShardWiring: every pod of the StatefulSet gets a distinct shard of
// shard.count from its ordinal, through the variable the binary reads, and
// an ordinal beyond the count (replicas raised without the ConfigMap) is
// refused at start.
func TestShardWiring(t *testing.T) {
	objs := kubernetesObjects(t)
	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap/tickwatch")
	sts := get[*appsv1.StatefulSet](t, objs, "StatefulSet/tickwatch")
	c := container(t, sts.Spec.Template.Spec, "tickwatch")
	var indexFrom *corev1.EnvVar
	for i, e := range c.Env {
		if e.Name == config.EnvShardIndex {
			indexFrom = &c.Env[i]
		}
	}
	if indexFrom == nil || indexFrom.ValueFrom == nil || indexFrom.ValueFrom.FieldRef == nil ||
		indexFrom.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Fatalf("%s = %+v, want the pod-index label through the downward API", config.EnvShardIndex, indexFrom)
	}
	replicas := int(*sts.Spec.Replicas)
	shards := map[int]bool{}
	for ordinal := 0; ordinal <= replicas; ordinal++ {
		cfg, err := config.Parse([]byte(cm.Data["tickwatch.yml"]), "ConfigMap tickwatch")
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{config.EnvShardIndex: fmt.Sprint(ordinal)} // what the kubelet sets
		o, err := config.ResolveShard("", "", func(k string) (string, bool) { v, ok := env[k]; return v, ok }, os.Hostname)
		if err == nil {
			err = o.Apply(cfg)
		}
		if ordinal == replicas {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("shard index %d (from %s) is outside", ordinal, config.EnvShardIndex)) {
				t.Errorf("ordinal %d of %d replicas: err %v, want it refused", ordinal, replicas, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("pod tickwatch-%d: %v", ordinal, err)
		}
		if cfg.Shard.Count != replicas {
			t.Errorf("pod tickwatch-%d runs with shard.count %d, the StatefulSet has %d replicas", ordinal, cfg.Shard.Count, replicas)
		}
		shards[cfg.Shard.Index] = true
	}
	if len(shards) != replicas {
		t.Errorf("the %d pods take shards %v", replicas, shards)
	}
}

// TestPrometheusRuleIsTheGeneratedOne: the checked-in PrometheusRule is
// byte for byte what `tickwatch rules --format operator` writes.
func TestPrometheusRuleIsTheGeneratedOne(t *testing.T) {
	got, err := os.ReadFile("kubernetes/tickwatch-prometheusrule.yml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := rules.GenerateOperator(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("deploy/kubernetes/tickwatch-prometheusrule.yml is not what `tickwatch rules --format operator` writes; run make generate")
	}
}
