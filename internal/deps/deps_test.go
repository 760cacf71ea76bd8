package deps

import (
	"go/build"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/streamhub/streamhub/"

// rules says, for each package (and its subpackages), which of the
// module's packages it may depend on, directly or not.
var rules = []struct {
	pkg     string
	mayUse  []string
	comment string
}{
	{"internal/subject", nil, "a leaf: subject syntax"},
	{"internal/fanout", []string{"internal/subject"}, "the core: standard library and subject only"},
	{"internal/protocol", []string{"internal/subject"}, "the wire's vocabulary, not the core's"},
	{"internal/auth", []string{"internal/subject", "internal/protocol"}, "keys and scopes, without the core"},
	{"client", []string{"internal/subject", "internal/protocol"}, "the public Go client does not carry the hub's core"},
	{"internal/upstream", []string{"internal/subject", "internal/protocol", "internal/bus", "internal/upstream", "internal/testsupport"}, "ingestors only publish to NATS"},
}

// TestDependenciesPointAtTheCore walks each package's imports within the
// module, transitively, and fails on any the rules do not allow.
func TestDependenciesPointAtTheCore(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, r := range rules {
		dirs := packagesUnder(t, filepath.Join(root, r.pkg))
		if len(dirs) == 0 {
			t.Fatalf("%s: no Go package there", r.pkg)
		}
		for _, dir := range dirs {
			rel, _ := filepath.Rel(root, dir)
			for _, dep := range moduleDeps(t, root, filepath.ToSlash(rel)) {
				if dep == filepath.ToSlash(rel) || strings.HasPrefix(dep, r.pkg+"/") || dep == r.pkg {
					continue
				}
				if !slices.ContainsFunc(r.mayUse, func(ok string) bool { return dep == ok || strings.HasPrefix(dep, ok+"/") }) {
					t.Errorf("%s depends on %s (%s)", rel, dep, r.comment)
				}
			}
		}
	}
}

// packagesUnder lists dir and its subdirectories holding non-test Go files.
func packagesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	var walk func(string)
	walk = func(d string) {
		if _, err := build.ImportDir(d, 0); err == nil {
			out = append(out, d)
		}
		entries, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, e := range entries {
			if p, err := build.ImportDir(e, build.FindOnly); err == nil && p.Dir == e && !strings.Contains(e, "testdata") {
				walk(e)
			}
		}
	}
	walk(dir)
	return out
}

// moduleDeps returns the module packages pkg imports, transitively, by
// path relative to the module root (test files not included).
func moduleDeps(t *testing.T, root, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var visit func(string)
	visit = func(p string) {
		bp, err := build.ImportDir(filepath.Join(root, filepath.FromSlash(p)), 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, imp := range bp.Imports {
			if rel, ok := strings.CutPrefix(imp, module); ok && !seen[rel] {
				seen[rel] = true
				visit(rel)
			}
		}
	}
	visit(pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
