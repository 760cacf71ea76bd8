package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamhub/streamhub/internal/loadgen"
)

func TestParseTargets(t *testing.T) {
	for in, want := range map[string][]loadgen.Target{
		"both":                  {loadgen.TargetStreamHub, loadgen.TargetNATSWS},
		"all":                   loadgen.Targets,
		"bun":                   {loadgen.TargetBun},
		"streamhub, centrifugo": {loadgen.TargetStreamHub, loadgen.TargetCentrifugo},
		"bun,bun,nats-ws":       {loadgen.TargetBun, loadgen.TargetNATSWS},
	} {
		got, all, err := parseTargets(in)
		if err != nil || !slices.Equal(got, want) || all != (in == "all") {
			t.Errorf("parseTargets(%q) = %v, %v, %v; want %v", in, got, all, err, want)
		}
	}
	for _, bad := range []string{"", "uws", "bun,", "streamhub,all"} {
		if _, _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q) accepted", bad)
		}
	}
}

// A peer that is not installed is one line saying how to get it, exit 1;
// a bad target is a usage error. Nothing is started.
func TestBenchSaysHowToGetAMissingPeer(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--target", "bun", "--bun", missing}, exitFailure, "npm install @oven/bun-linux-x64"},
		{[]string{"bench", "--target", "streamhub,centrifugo", "--centrifugo", missing}, exitFailure,
			"go install github.com/centrifugal/centrifugo/v6@" + loadgen.CentrifugoVersion},
		{[]string{"bench", "--target", "uws"}, exitUsage, `unknown target "uws"`},
		{[]string{"bench", "--target", "bun", "--in-process"}, exitUsage, "--in-process runs only streamhub and nats-ws"},
	} {
		r := hub(t, nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("hub %v: exit %d, want %d\nstderr: %s", tc.args, r.code, tc.code, r.stderr)
			continue
		}
		if line := oneLine(t, r); !strings.Contains(line, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("hub %v: stderr %q, want one line containing %q", tc.args, r.stderr, tc.want)
		}
	}
}

// hub bench against a real Bun, as docs/PERFORMANCE.md shows it (skipped
// where Bun is not installed): exit 0 and a table with Bun's row, nothing
// missing.
func TestBenchRunsBun(t *testing.T) {
	t.Parallel()
	bun, err := loadgen.FindPeer(loadgen.TargetBun, os.Getenv("BENCH_BUN"))
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if _, err := exec.LookPath(bun); err != nil {
		t.Skipf("skipping: %v", err)
	}
	r := hub(t, nil, "bench", "--target", "bun", "--bun", bun, "--clients", "20", "--subjects", "1", "--rate", "100", "--duration", "2s")
	if r.code != exitOK {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	var row []string
	for line := range strings.SplitSeq(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) > 6 && f[0] == "bun" {
			row = f
		}
	}
	// target clients rate/s published pub/s delivered missing …
	if row == nil || row[1] != "20" || row[3] != "200" || row[5] != "4000" || row[6] != "0" {
		t.Errorf("no bun row with 200 published, 4000 delivered, 0 missing:\n%s", r.stdout)
	}
}
