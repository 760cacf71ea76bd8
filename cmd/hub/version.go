package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/streamhub/streamhub/internal/server"
)

// version and commit are set at link time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/hub
//
// Left empty, they come from the build's own VCS stamp (debug.ReadBuildInfo).
var version, commit string

// buildInfo returns what the binary knows about its build: the linker's
// values first, then the module version and VCS revision Go stamped into
// it, then "dev" and "unknown".
func buildInfo() server.BuildInfo {
	b := server.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if b.Commit == "" {
			b.Commit = vcsCommit(bi.Settings)
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// vcsCommit returns the VCS revision of the build, marked "-dirty" when the
// work tree had uncommitted changes, or "".
func vcsCommit(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// versionCmd prints the version, the commit and the Go version.
func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return asUsage(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("version: unexpected arguments %q", fs.Args())
	}
	b := buildInfo()
	fmt.Fprintf(stdout, "hub %s\ncommit %s\n%s %s/%s\n", b.Version, b.Commit, b.GoVersion, runtime.GOOS, runtime.GOARCH)
	return nil
}
