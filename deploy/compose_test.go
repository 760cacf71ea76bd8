package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification compose.yaml uses;
// decoded strictly, so a misspelt key fails.
type composeFile struct {
	Name     string                    `json:"name"`
	XNATS    map[string]any            `json:"x-nats"`
	XHub     map[string]any            `json:"x-hub"`
	XHubEnv  map[string]string         `json:"x-hub-env"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

type composeService struct {
	Image           string                                `json:"image"`
	Build           *struct{ Context, Dockerfile string } `json:"build"`
	Restart         string                                `json:"restart"`
	Command         []string                              `json:"command"`
	Environment     map[string]string                     `json:"environment"`
	Volumes         []string                              `json:"volumes"`
	Ports           []string                              `json:"ports"`
	DependsOn       any                                   `json:"depends_on"`
	Healthcheck     map[string]any                        `json:"healthcheck"`
	StopGracePeriod string                                `json:"stop_grace_period"`
}

// compose.yaml: three NATS nodes with their cluster config files (which
// nats-server itself accepts), two hubs built from the repository's
// Dockerfile whose flags and variables hub serve has, Prometheus with its
// config and rules, Grafana with its provisioning, and every file it
// mounts present.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatal(err)
	}
	want := []string{"nats-1", "nats-2", "nats-3", "hub-1", "hub-2", "prometheus", "grafana"}
	var got []string
	for name := range f.Services {
		got = append(got, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	images := map[string]string{"nats-": "nats:", "prometheus": "prom/prometheus:", "grafana": "grafana/grafana:"}
	hostPorts := map[string]bool{}
	for name, s := range f.Services {
		for prefix, image := range images {
			if strings.HasPrefix(name, prefix) && !strings.HasPrefix(s.Image, image) {
				t.Errorf("%s: image %q, want %s…", name, s.Image, image)
			}
		}
		// Every file or directory mounted from the repository exists.
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := f.Volumes[src]; !ok {
				t.Errorf("%s uses the undeclared volume %s", name, src)
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			host := parts[len(parts)-2]
			if hostPorts[host] {
				t.Errorf("host port %s published twice", host)
			}
			hostPorts[host] = true
		}
	}

	// The hubs: built from the Dockerfile at the root, configured with
	// flags and variables hub serve has, the NATS password from the
	// environment only, and all three NATS nodes in the URL.
	for _, name := range []string{"hub-1", "hub-2"} {
		s := f.Services[name]
		if s.Build == nil || filepath.Clean(s.Build.Context) != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: build %+v, want the repository's Dockerfile", name, s.Build)
		}
		var env []string
		for k := range s.Environment {
			env = append(env, k)
		}
		checkServeArgs(t, name, s.Command, env)
		if strings.Contains(strings.Join(s.Command, " "), "password") {
			t.Errorf("%s: a password on the command line", name)
		}
		if s.Environment["STREAMHUB_NATS_PASSWORD"] != "${NATS_PASSWORD:?set NATS_PASSWORD in deploy/.env}" {
			t.Errorf("%s: STREAMHUB_NATS_PASSWORD = %q, want it from NATS_PASSWORD", name, s.Environment["STREAMHUB_NATS_PASSWORD"])
		}
		for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
			if !strings.Contains(s.Environment["STREAMHUB_NATS_URL"], "nats://"+n+":4222") {
				t.Errorf("%s: STREAMHUB_NATS_URL %q misses %s", name, s.Environment["STREAMHUB_NATS_URL"], n)
			}
		}
	}

	// The NATS nodes' files: nats-server parses each, and together they
	// make one JetStream cluster of three distinct servers.
	t.Setenv("NATS_PASSWORD", "from-the-environment")
	names := map[string]bool{}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		o, err := natsserver.ProcessConfigFile(filepath.Join("nats", n+".conf"))
		if err != nil {
			t.Fatalf("%s.conf: %v", n, err)
		}
		if !o.JetStream || o.Cluster.Name != "streamhub" || len(o.Routes) != 3 || o.Port != 4222 || o.Cluster.Port != 6222 {
			t.Errorf("%s.conf: jetstream=%v cluster=%q routes=%d ports %d/%d", n, o.JetStream, o.Cluster.Name, len(o.Routes), o.Port, o.Cluster.Port)
		}
		if o.Username != "streamhub" || o.Password != "from-the-environment" {
			t.Errorf("%s.conf: user %q, password not from $NATS_PASSWORD", n, o.Username)
		}
		names[o.ServerName] = true
	}
	if len(names) != 3 {
		t.Errorf("server names %v, want 3 distinct", names)
	}
}
