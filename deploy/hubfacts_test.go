package deploy_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
)

// What the deploy files may name, learned from the real hub once per test
// binary: the flags of hub serve -h and the metric names of /metrics.
var (
	flagsOnce sync.Once
	flags     map[string]bool
	flagsErr  error
)

// serveFlags returns the flag names hub serve -h lists, from the hub binary
// built from this tree.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	flagsOnce.Do(func() {
		bin := filepath.Join(t.TempDir(), "hub")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/hub").CombinedOutput(); err != nil {
			flagsErr = &buildError{string(out), err}
			return
		}
		// -h prints the flags on stderr and exits 0.
		out, err := exec.CommandContext(ctx, bin, "serve", "-h").CombinedOutput()
		if err != nil {
			flagsErr = &buildError{string(out), err}
			return
		}
		flags = map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
			flags[m[1]] = true
		}
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flags
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// checkServeArgs fails the test for each --flag in args, and each
// STREAMHUB_* name in env, that hub serve does not have.
func checkServeArgs(t *testing.T, where string, args []string, env []string) {
	t.Helper()
	known := serveFlags(t)
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("%s: the hub's command is %q, want serve first", where, args)
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !known[name] {
			t.Errorf("%s: hub serve has no flag --%s", where, name)
		}
	}
	for _, e := range env {
		name, ok := strings.CutPrefix(e, "STREAMHUB_")
		if !ok {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if !known[flag] {
			t.Errorf("%s: %s names no hub serve flag (--%s)", where, e, flag)
		}
	}
}

// exportedMetrics scrapes a real hub's /metrics (authentication on, so that
// the auth metrics are there) and returns every sample name in it.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	s := servertest.Start(t, func(c *server.Config) { c.InsecureNoAuth = false })
	// Labelled counters show up once they count: a client's bad command
	// makes streamhub_command_errors_total appear.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/v1/ws", &websocket.DialOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":1,"subjects":["ticks.>"]}`)); err != nil {
		t.Fatal(err)
	}
	if _, answer, err := ws.Read(ctx); err != nil || !strings.Contains(string(answer), "error") {
		t.Fatalf("a subscribe before auth: %s %v, want an error answer", answer, err)
	}
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("/metrics had %d names", len(names))
	}
	return names
}

// checkProbePaths fails the test unless a real hub answers each path with
// 200.
func checkProbePaths(t *testing.T, paths ...string) {
	t.Helper()
	s := servertest.Start(t, nil)
	for _, p := range paths {
		resp, err := http.Get("http://" + s.Addr() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a ready hub answers %s with %d", p, resp.StatusCode)
		}
	}
}
