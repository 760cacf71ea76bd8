package deploy_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// readDocs splits a multi-document YAML file.
func readDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// The hub's Kubernetes manifests decode strictly into the API types (an
// unknown or misspelt field fails), hold together (selectors, ports,
// grace periods), use only flags and variables hub serve has, and probe
// paths that a real hub answers.
func TestKubernetesManifests(t *testing.T) {
	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		pdb *policyv1.PodDisruptionBudget
	)
	for _, doc := range readDocs(t, "k8s/hub.yaml") {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			dep = &appsv1.Deployment{}
			obj = dep
		case "v1 Service":
			svc = &corev1.Service{}
			obj = svc
		case "policy/v1 PodDisruptionBudget":
			pdb = &policyv1.PodDisruptionBudget{}
			obj = pdb
		default:
			t.Fatalf("unexpected object %s %s", meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if dep == nil || svc == nil || pdb == nil {
		t.Fatal("want a Deployment, a Service and a PodDisruptionBudget")
	}

	podLabels := labels.Set(dep.Spec.Template.Labels)
	for what, sel := range map[string]map[string]string{
		"Deployment selector": dep.Spec.Selector.MatchLabels,
		"Service selector":    svc.Spec.Selector,
		"PDB selector":        pdb.Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(podLabels) {
			t.Errorf("%s %v does not select the pods %v", what, sel, podLabels)
		}
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget bounds nothing")
	}
	if r := dep.Spec.Replicas; r == nil || *r < 2 {
		t.Error("fewer than 2 hubs: a drain leaves clients nowhere to go")
	}

	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("want one container")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
		if e.Name == "STREAMHUB_NATS_PASSWORD" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Error("the NATS password does not come from a Secret")
		}
	}
	checkServeArgs(t, "k8s/hub.yaml", c.Args, env)

	// Probes: /readyz for readiness, /healthz for liveness, on a declared
	// port, and both answered 200 by a real hub.
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	if c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Fatal("want readiness and liveness probes")
	}
	probes := map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe}
	for path, p := range probes {
		if p.HTTPGet == nil || p.HTTPGet.Path != path || !ports[p.HTTPGet.Port.String()] {
			t.Errorf("probe for %s: %+v", path, p.HTTPGet)
		}
	}
	checkProbePaths(t, "/readyz", "/healthz")

	// Drain: preStop waits, then SIGTERM drains within --shutdown-timeout;
	// the grace period must cover both.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("want a preStop sleep before the SIGTERM drain")
	}
	drain := 10 * time.Second // the hub's default --shutdown-timeout
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--shutdown-timeout="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			drain = d
		}
	}
	grace := time.Duration(*dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if grace <= preStop+drain {
		t.Errorf("terminationGracePeriodSeconds %v does not cover preStop %v + drain %v", grace, preStop, drain)
	}
	if s := dep.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 {
		t.Error("a rolling update may take a hub away before its successor is ready")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("want a read-only root filesystem")
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return ports[p.TargetPort.String()] }) {
		t.Error("the Service targets no port of the container")
	}
}

// The values for NATS's Helm chart ask for what the hubs need: a
// three-node cluster with JetStream on persistent volumes, and a password
// from the Secret the hubs read.
func TestNATSHelmValues(t *testing.T) {
	b, err := os.ReadFile("k8s/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The subset of the chart's values this file sets; strict, so that a
	// key the chart does not have in that place fails.
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
					PVC     struct {
						Enabled bool   `json:"enabled"`
						Size    string `json:"size"`
					} `json:"pvc"`
				} `json:"fileStore"`
			} `json:"jetstream"`
			Merge struct {
				Authorization struct {
					User     string `json:"user"`
					Password string `json:"password"`
				} `json:"authorization"`
			} `json:"merge"`
		} `json:"config"`
		Container struct {
			Env map[string]corev1.EnvVar `json:"env"`
		} `json:"container"`
		PodDisruptionBudget struct {
			Enabled bool `json:"enabled"`
		} `json:"podDisruptionBudget"`
	}
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatal(err)
	}
	c := v.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 || !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled ||
		!c.JetStream.FileStore.PVC.Enabled || c.JetStream.FileStore.PVC.Size == "" || !v.PodDisruptionBudget.Enabled {
		t.Fatalf("not a 3-node JetStream cluster on volumes: %+v", c)
	}
	if c.Merge.Authorization.User != "streamhub" || c.Merge.Authorization.Password != "<< $NATS_PASSWORD >>" {
		t.Fatalf("authorization %+v: want user streamhub and the password from $NATS_PASSWORD", c.Merge.Authorization)
	}
	ref := v.Container.Env["NATS_PASSWORD"].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "streamhub-nats" {
		t.Fatal("NATS_PASSWORD does not come from the Secret streamhub-nats")
	}
	// The hubs' manifest reads the same Secret.
	hub, _ := os.ReadFile("k8s/hub.yaml")
	if !strings.Contains(string(hub), "name: streamhub-nats") {
		t.Error("k8s/hub.yaml does not read the Secret streamhub-nats")
	}
}
