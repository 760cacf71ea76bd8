package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"testing"
)

// The linker's values win; without them the VCS stamp of the build is
// used, marked dirty when the tree had changes; then "dev" and "unknown".
func TestBuildInfoSources(t *testing.T) {
	saved := [2]string{version, commit}
	t.Cleanup(func() { version, commit = saved[0], saved[1] })

	version, commit = "v1.2.3", "abc123"
	if b := buildInfo(); b.Version != "v1.2.3" || b.Commit != "abc123" || b.GoVersion != runtime.Version() {
		t.Errorf("with -ldflags values: %+v", b)
	}
	version, commit = "", ""
	if b := buildInfo(); b.Version == "" || b.Commit == "" {
		t.Errorf("without -ldflags values: %+v, want fallbacks", b)
	}
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "f00d"}, {Key: "vcs.modified", Value: "false"}}, "f00d"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "f00d"}}, "f00d-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, ""},
		{nil, ""},
	} {
		if got := vcsCommit(tc.settings); got != tc.want {
			t.Errorf("vcsCommit(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}

// make hub and the Docker build set the variables hub version reads.
func TestBuildsInjectVersionAndCommit(t *testing.T) {
	for _, f := range []string{"Makefile", "Dockerfile"} {
		text := repoFile(t, f)
		for _, v := range []string{"version", "commit"} {
			if !regexp.MustCompile(`-X main\.` + v + `=\S`).MatchString(text) {
				t.Errorf("%s does not set main.%s with -ldflags -X", f, v)
			}
		}
	}
}
