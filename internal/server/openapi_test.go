package server

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/streamhub/streamhub/internal/protocol"
)

// openAPIOperations reads docs/openapi.yaml and returns its operations as
// "METHOD /path", in the document's order, failing the test if the paths
// are not sorted.
func openAPIOperations(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	root := doc.Content[0]
	var paths *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "openapi":
			if !strings.HasPrefix(root.Content[i+1].Value, "3.") {
				t.Fatalf("openapi version %q", root.Content[i+1].Value)
			}
		case "paths":
			paths = root.Content[i+1]
		}
	}
	if paths == nil {
		t.Fatal("docs/openapi.yaml has no paths")
	}
	var ops, order []string
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path := paths.Content[i].Value
		order = append(order, path)
		item := paths.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			switch m := item.Content[j].Value; m {
			case "get", "post", "put", "patch", "delete", "head", "options":
				ops = append(ops, strings.ToUpper(m)+" "+path)
			}
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("docs/openapi.yaml: paths are not sorted: %v", order)
	}
	return ops
}

// servedOperations returns the mux's patterns as "METHOD /path" in OpenAPI
// spelling: a pattern without a method is the dashboard's or a catch-all,
// documented as GET; "{name...}" is "{name}".
func servedOperations(s *Server) []string {
	var out []string
	for _, p := range s.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "GET", p
		}
		out = append(out, method+" "+strings.ReplaceAll(path, "...}", "}"))
	}
	return out
}

// docs/openapi.yaml describes exactly the routes a hub serves: every route
// of a hub with every optional part on (auth, demo) is in the document, and
// every operation in the document is answered by a real hub with something
// other than "no such route".
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := startHub(t, func(c *Config) {
		c.InsecureNoAuth = false
		fastDemo(c)
	})
	documented := openAPIOperations(t)
	served := servedOperations(s)
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("the hub serves %s, which docs/openapi.yaml does not describe", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("docs/openapi.yaml describes %s, which the hub does not route", op)
		}
		method, path, _ := strings.Cut(op, " ")
		path = strings.ReplaceAll(path, "{subject}", "jobs.acme.j_1")
		status, body := doAPI(t, s, method, path, nil, nil)
		var e protocol.HTTPError
		notFound := status == http.StatusNotFound && (json.Unmarshal(body, &e) != nil || e.Code == "")
		if status == http.StatusMethodNotAllowed || notFound {
			t.Errorf("%s %s: %d %.80s: the route is not served", method, path, status, body)
		}
	}
}
