package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoFile reads a file at the repository's root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerInstructions returns the Dockerfile's instructions, one string
// each, with continuation lines joined and comments dropped.
func dockerInstructions(dockerfile string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(dockerfile, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur += more + " "
			continue
		}
		out = append(out, strings.Join(strings.Fields(cur+line), " "))
		cur = ""
	}
	return out
}

// The image's properties that cannot be seen without a docker build (which
// has no network here), checked on the Dockerfile itself: Node.js new enough
// for the web package, a non-root user with a writable /data, a health check
// that needs no shell, and production defaults.
func TestDockerfileShipsProductionDefaults(t *testing.T) {
	ins := dockerInstructions(repoFile(t, "Dockerfile"))
	last := 0 // the runtime stage starts at the last FROM
	for i, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			last = i
		}
	}
	runtime := ins[last:]
	all := strings.Join(ins, "\n")

	node := regexp.MustCompile(`(?m)^FROM node:(\d+)(?:\.(\d+))?\S* `).FindStringSubmatch(all)
	if node == nil {
		t.Fatal("no node build stage (FROM node:<version>…)")
	}
	major, _ := strconv.Atoi(node[1])
	minor, _ := strconv.Atoi(node[2])
	if major < 20 || (major == 20 && (node[2] == "" || minor < 19)) {
		t.Errorf("node stage is %s; the web package needs >= 20.19", strings.TrimPrefix(node[0], "FROM "))
	}

	want := map[string]*regexp.Regexp{
		"runs as the nonroot user (65532)":         regexp.MustCompile(`^USER (65532|nonroot)(:(65532|nonroot))?$`),
		"/data owned by the nonroot user":          regexp.MustCompile(`^COPY (--from=\S+ )?--chown=(65532|nonroot)(:\S+)? \S+ /data/?$`),
		"the data dir is /data":                    regexp.MustCompile(`^ENV .*\bSTREAMHUB_DATA_DIR=/data\b`),
		"listens on 0.0.0.0:8080":                  regexp.MustCompile(`^ENV .*\bSTREAMHUB_LISTEN=0\.0\.0\.0:8080\b`),
		"a health check with hub health, no shell": regexp.MustCompile(`^HEALTHCHECK .*CMD \["/hub", ?"health"`),
		"serve is the default command":             regexp.MustCompile(`^CMD \["serve"\]$`),
		"the entrypoint is the hub":                regexp.MustCompile(`^ENTRYPOINT \["/hub"\]$`),
		"demo explicitly off whatever its default": regexp.MustCompile(`^ENV .*\bSTREAMHUB_DEMO=false\b`),
	}
	for what, re := range want {
		found := false
		for _, in := range runtime {
			found = found || re.MatchString(in)
		}
		if !found {
			t.Errorf("the runtime stage lacks: %s (%v)", what, re)
		}
	}
	for _, in := range runtime {
		if regexp.MustCompile(`^USER (root|0)\b`).MatchString(in) {
			t.Errorf("the runtime stage runs as root: %s", in)
		}
	}
	for _, bad := range []string{"insecure-no-auth", "INSECURE_NO_AUTH", "--demo", "STREAMHUB_DEMO=true", "STREAMHUB_DEMO=1"} {
		if strings.Contains(all, bad) && !strings.Contains(all, bad+"=false") {
			t.Errorf("the Dockerfile mentions %q: the image must ship with auth on and no demo", bad)
		}
	}
	// The /data the image creates is the one the volume and the hub use.
	if v := regexp.MustCompile(`(?m)^VOLUME (\S+)$`).FindStringSubmatch(strings.Join(runtime, "\n")); v == nil || v[1] != "/data" {
		t.Errorf("VOLUME is %v, want /data", v)
	}
}

// The build context leaves out local state (./data holds the token signing
// secret), the VCS, local builds and dependencies the image builds itself.
func TestDockerignoreKeepsSecretsAndBuildsOut(t *testing.T) {
	entries := map[string]bool{}
	for _, line := range strings.Split(repoFile(t, ".dockerignore"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			entries[strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/")] = true
		}
	}
	for what, alternatives := range map[string][]string{
		"./data (keys, signing secret)": {"data"},
		"node_modules":                  {"**/node_modules", "web/node_modules"},
		"bin":                           {"bin"},
		".git":                          {".git"},
		"the dashboard build (rebuilt in the image)": {"web/static/app"},
	} {
		ok := false
		for _, a := range alternatives {
			ok = ok || entries[a]
		}
		if !ok {
			t.Errorf(".dockerignore does not exclude %s (want one of %q)", what, alternatives)
		}
	}
	for e := range entries {
		if strings.HasPrefix(e, "!") {
			t.Errorf(".dockerignore re-includes %s", e)
		}
	}
}

// make test says at once, before building or testing anything, that it
// needs Chromium and how to install it.
func TestMakeTestAsksForChromiumFirst(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "test.sh"))
	cmd.Env = append(os.Environ(), "CHROMIUM="+filepath.Join(t.TempDir(), "no-chromium"))
	// Its own process group, so that a script that goes on to build and
	// test (the bug) is stopped whole, children included.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(10*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("scripts/test.sh without Chromium: %v, want exit 1\n%s", err, out)
	}
	if strings.Contains(string(out), "==>") || !strings.Contains(string(out), "apt-get install chromium") {
		t.Fatalf("scripts/test.sh did not stop first with how to install Chromium:\n%s", out)
	}
}

// make run execs the built binary, so that Ctrl-C reaches the hub (which
// exits 0 after an orderly shutdown) and not a go run wrapper (exit 1),
// and it passes ARGS through.
func TestMakeRunExecsTheBinary(t *testing.T) {
	mk := repoFile(t, "Makefile")
	m := regexp.MustCompile(`(?m)^run:.*\n((?:\t.*\n)+)`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("no run target in the Makefile")
	}
	recipe := m[1]
	if strings.Contains(recipe, "go run") || !regexp.MustCompile(`(?m)^\t.*\bexec \./bin/hub serve\b.*\$\(ARGS\)`).MatchString(recipe) {
		t.Errorf("make run's recipe does not exec ./bin/hub serve with $(ARGS):\n%s", recipe)
	}
}

// make soak, as the README shows it, runs the model-based delivery-contract
// test and passes (here for a few seconds rather than minutes).
func TestMakeSoakRunsTheModelTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the model test through make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-s", "soak", "SOAK=3s")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make soak: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestDeliveryContractModel") {
		t.Fatalf("make soak did not run the model test:\n%s", out)
	}
}
