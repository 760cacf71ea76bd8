package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// execMainEnv makes the test binary run main() instead of the tests (see
// TestMain), so that tests can run the real hub binary as a child process
// and see its exit code and its stderr.
const execMainEnv = "STREAMHUB_TEST_EXEC_MAIN"

// hubCmd returns the hub binary (this test binary, running main) with args
// and an environment of env alone (no STREAMHUB_* from the caller's).
func hubCmd(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMHUB_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, execMainEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

type procResult struct {
	code           int
	stdout, stderr string
}

// hub runs the hub binary with args until it exits (at most 60 s).
func hub(t *testing.T, env map[string]string, args ...string) procResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := hubCmd(ctx, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("hub %v: %v", args, err)
	}
	return procResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// leaks are what a user must never see of the hub's insides.
var leaks = regexp.MustCompile(`panic|goroutine \d|keycmd|\b(server|bus|gateway|auth): `)

// oneLine checks that a failure was told as exactly one line, "hub: …",
// without internal names, and returns it.
func oneLine(t *testing.T, r procResult) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "hub: ") || leaks.MatchString(r.stderr) {
		t.Errorf("stderr is not one clear line:\n%s", r.stderr)
	}
	return last
}

// Startup failures a person can fix are one line on stderr and exit 1,
// never a panic.
func TestStartupFailuresAreOneLineAndExit1(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	locked := t.TempDir()
	unlock, err := bus.LockStoreDir(locked) // as the hub running on it holds it
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	notDir := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	type startCase struct {
		name, listen, natsListen, dataDir string
		want                              string
		logged                            bool // nats-server logs its own failure first
	}
	cases := []startCase{
		{"port in use", busy.Addr().String(), "127.0.0.1:-1", t.TempDir(), "serve: cannot listen on " + busy.Addr().String() + ": address already in use", false},
		{"NATS port in use", freeAddr(t), busy.Addr().String(), t.TempDir(), "serve: cannot listen on " + busy.Addr().String() + " for the embedded NATS: address already in use", true},
		{"data dir locked by another hub", freeAddr(t), "127.0.0.1:-1", locked, "serve: data dir " + locked + " is in use by another hub", false},
		{"data dir not writable", freeAddr(t), "127.0.0.1:-1", filepath.Join(notDir, "data"), "serve: data dir " + filepath.Join(notDir, "data") + " is not writable", false},
	}
	if os.Geteuid() != 0 { // root writes anywhere: the mode bits stop only others
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
		cases = append(cases, startCase{name: "data dir read-only", listen: freeAddr(t), natsListen: "127.0.0.1:-1", dataDir: filepath.Join(ro, "data"),
			want: "serve: data dir " + filepath.Join(ro, "data") + " is not writable"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := hub(t, nil, "serve", "--listen", tc.listen, "--nats-listen", tc.natsListen, "--data-dir", tc.dataDir, "--log-level", "warn")
			if r.code != exitFailure {
				t.Errorf("exit code %d, want 1", r.code)
			}
			if line := oneLine(t, r); (!tc.logged && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0) || !strings.Contains(line, tc.want) {
				t.Errorf("stderr:\n%s\nwant one line containing %q", r.stderr, tc.want)
			}
		})
	}
}

// 0 for success and for help that was asked for, 1 for a failure, 2 for a
// usage error; every error one line without internal package names.
func TestExitCodesAndHelp(t *testing.T) {
	t.Parallel()
	closed := freeAddr(t)
	for _, tc := range []struct {
		args       []string
		env        map[string]string
		code       int
		stdout     string // must contain
		stderrLine string // the last stderr line must contain
	}{
		{args: []string{"--help"}, stdout: "commands:"},
		{args: []string{"-h"}, stdout: "commands:"},
		{args: []string{"help"}, stdout: "commands:"},
		{args: []string{"version"}, stdout: runtime.Version()},
		{args: []string{"--version"}, stdout: runtime.Version()},
		{args: []string{"serve", "-h"}},
		{args: []string{"keys", "-h"}},
		{args: []string{"frobnicate"}, code: exitUsage, stderrLine: `hub: unknown command "frobnicate"`},
		{args: []string{"serve", "--no-such-flag"}, code: exitUsage, stderrLine: "no-such-flag"},
		{args: []string{"serve", "--log-format", "xml"}, code: exitUsage, stderrLine: "--log-format"},
		{args: []string{"serve"}, env: map[string]string{"STREAMHUB_DEMO": "perhaps"}, code: exitUsage, stderrLine: "STREAMHUB_DEMO"},
		{args: []string{"version", "extra"}, code: exitUsage, stderrLine: "unexpected arguments"},
		{args: []string{"publish", "ticks.a"}, code: exitUsage, stderrLine: "need a subject and a JSON payload"},
		{args: []string{"keys", "create"}, code: exitUsage, stderrLine: "hub: keys: create: --name is required"},
		{args: []string{"keys", "frobnicate"}, code: exitUsage, stderrLine: `hub: keys: unknown command "frobnicate"`},
		{args: []string{"keys", "list", "--data-dir", filepath.Join(t.TempDir(), "none")}, code: exitFailure, stderrLine: "hub: keys: no key store in"},
		{args: []string{"publish", "--nats-url", "nats://" + closed, "ticks.a.b", "{}"}, code: exitFailure, stderrLine: "hub: publish: connect to"},
		{args: []string{"health", "--url", "http://" + closed}, code: exitFailure, stderrLine: "hub: health: "},
	} {
		r := hub(t, tc.env, tc.args...)
		if r.code != tc.code {
			t.Errorf("hub %v: exit %d, want %d\nstderr: %s", tc.args, r.code, tc.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stdout, tc.stdout) {
			t.Errorf("hub %v: stdout lacks %q:\n%s", tc.args, tc.stdout, r.stdout)
		}
		if tc.code == exitOK {
			continue
		}
		if line := oneLine(t, r); !strings.Contains(line, tc.stderrLine) {
			t.Errorf("hub %v: last stderr line %q, want it to contain %q", tc.args, line, tc.stderrLine)
		}
	}

	help := hub(t, nil, "--help").stdout
	for _, cmd := range []string{"serve", "keys", "publish", "subscribe", "health", "version", "bench"} {
		if !regexp.MustCompile(`(?m)^  ` + cmd + ` `).MatchString(help) {
			t.Errorf("hub --help does not list %s:\n%s", cmd, help)
		}
	}
	v := hub(t, nil, "version").stdout
	if !regexp.MustCompile(`(?m)^hub \S+\ncommit \S+\ngo\S+ \S+/\S+\n$`).MatchString(v) {
		t.Errorf("hub version printed:\n%s", v)
	}
}

// ready reports whether a hub answers GET /readyz with 200.
func ready(base string) bool {
	req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// SIGINT (Ctrl-C) and SIGTERM (docker stop) end the hub with an orderly
// shutdown and exit code 0.
func TestSignalsShutDownCleanlyWithExit0(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			addr := freeAddr(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := hubCmd(ctx, nil, "serve", "--listen", addr, "--nats-listen", "127.0.0.1:-1", "--data-dir", t.TempDir())
			var stderr testsupport.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			testsupport.WaitFor(t, "the hub to be ready", 30*time.Second, func() bool { return ready("http://" + addr) })
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("after %v: %v\n%s", sig, err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30 s after %v", sig)
			}
			if !strings.Contains(stderr.String(), "hub shutting down") || strings.Contains(stderr.String(), "level=ERROR") {
				t.Errorf("no orderly shutdown in the log:\n%s", stderr.String())
			}
		})
	}
}
