package deploy_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// promqlParser parses as the Prometheus of compose.yaml does by default.
var promqlParser = parser.NewParser(parser.Options{})

// metricNames returns the metric names expr selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("PromQL %q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("PromQL %q selects no metric by name", expr)
	}
	return names
}

// fromPrometheus are the series Prometheus makes itself.
var fromPrometheus = map[string]bool{"up": true}

// The alert rules pass Prometheus's own rule validation (promtool's), and
// every metric they use is one a real hub exports.
func TestAlertRules(t *testing.T) {
	exported := exportedMetrics(t)
	groups, errs := rulefmt.ParseFile("prometheus/alerts.yml", false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		return
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q: want an alert with a severity and a summary", r.Alert)
			}
			for _, name := range metricNames(t, r.Expr) {
				if !exported[name] && !fromPrometheus[name] {
					t.Errorf("alert %s uses %s, which the hub does not export", r.Alert, name)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d rules", n)
	}
	// Prometheus loads this file where compose.yaml mounts it.
	cfg := readYAML(t, "prometheus/prometheus.yml")
	if files, _ := cfg["rule_files"].([]any); !slices.Contains(files, any("/etc/prometheus/alerts.yml")) {
		t.Errorf("prometheus.yml rule_files %v", cfg["rule_files"])
	}
}

// The Grafana dashboard loads as JSON, uses the provisioned data source,
// and every query's metric names are ones a real hub exports.
func TestGrafanaDashboard(t *testing.T) {
	exported := exportedMetrics(t)
	b, err := os.ReadFile("grafana/dashboards/streamhub.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query struct {
					Query string `json:"query"`
				} `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	ds := readYAML(t, "grafana/provisioning/datasources/prometheus.yaml")
	uid := ds["datasources"].([]any)[0].(map[string]any)["uid"]
	// Grafana's variables become what they stand for before parsing.
	expand := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h", "$instance", ".*")
	queries := 0
	for _, p := range d.Panels {
		if p.Datasource.UID != uid {
			t.Errorf("panel %q: data source %q, want the provisioned %v", p.Title, p.Datasource.UID, uid)
		}
		for _, tg := range p.Targets {
			queries++
			for _, name := range metricNames(t, expand.Replace(tg.Expr)) {
				if !exported[name] {
					t.Errorf("panel %q queries %s, which the hub does not export", p.Title, name)
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		if m := strings.TrimSuffix(strings.TrimPrefix(v.Query.Query, "label_values("), ", instance)"); !exported[m] {
			t.Errorf("variable %s: label_values of %q, which the hub does not export", v.Name, m)
		}
	}
	if d.UID == "" || len(d.Panels) < 10 || queries < 15 {
		t.Errorf("dashboard %q: %d panels, %d queries", d.UID, len(d.Panels), queries)
	}
	prov := readYAML(t, "grafana/provisioning/dashboards/streamhub.yaml")
	path := prov["providers"].([]any)[0].(map[string]any)["options"].(map[string]any)["path"]
	if path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboards provisioned from %v, where compose.yaml mounts none", path)
	}
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}
