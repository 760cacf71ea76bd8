// Package clustertest runs StreamHub the way a scaled-out deployment does:
// a three-node NATS cluster with JetStream and several hub instances, each
// a child process of the test, so that a test can kill one (SIGKILL),
// freeze it (SIGSTOP), stop it gracefully (SIGTERM) and start it again on
// the same ports. Only tests import it; its tests run when
// STREAMHUB_CLUSTER_TESTS=1 (scripts/test.sh sets it).
//
// The binaries are built once per test binary with Build: nats-server from
// the module cache (the version go.mod requires) and the hub from this
// module.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Bins are the paths of the binaries the harness runs.
type Bins struct {
	NATSServer string
	Hub        string
}

// Build builds nats-server and the hub into dir. It runs the go command,
// which must be on PATH, from the module's root.
func Build(dir string) (Bins, error) {
	root, err := moduleRoot()
	if err != nil {
		return Bins{}, err
	}
	b := Bins{NATSServer: filepath.Join(dir, "nats-server"), Hub: filepath.Join(dir, "hub")}
	for _, args := range [][]string{
		{"build", "-o", b.NATSServer, "github.com/nats-io/nats-server/v2"},
		{"build", "-o", b.Hub, "./cmd/hub"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Bins{}, fmt.Errorf("clustertest: go %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("clustertest: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("clustertest: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is one child process, started again on demand with the same
// arguments. Its methods are called from the test's goroutine only.
type proc struct {
	t    testing.TB
	name string
	bin  string
	args []string
	out  *testsupport.Buffer // stdout and stderr of every run, in order

	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited
}

// start runs the process; it must not be running.
func (p *proc) start() {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("%s: already running", p.name)
	}
	fmt.Fprintf(p.out, "--- %s start %s\n", p.name, time.Now().Format(time.StampMilli))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("%s: start: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { // owns cmd.Wait; ends when the process exits
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

func (p *proc) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the running process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("%s: signal %v: not running", p.name, sig)
	}
	fmt.Fprintf(p.out, "--- %s %v %s\n", p.name, sig, time.Now().Format(time.StampMilli))
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit, failing the test after timeout.
func (p *proc) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
}

// kill ends the process at once (a frozen one too) and waits for it.
func (p *proc) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Node is one nats-server of the cluster.
type Node struct {
	proc
	Name        string
	Port        int // client port on 127.0.0.1
	ClusterPort int
}

// URL returns the node's client URL.
func (n *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// Kill SIGKILLs the node and waits for it to exit.
func (n *Node) Kill() { n.t.Helper(); n.signal(syscall.SIGKILL); n.wait(10 * time.Second) }

// Freeze stops the node with SIGSTOP: its sockets stay open, it answers
// nothing.
func (n *Node) Freeze() { n.t.Helper(); n.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen node with SIGCONT.
func (n *Node) Thaw() { n.t.Helper(); n.signal(syscall.SIGCONT) }

// Start starts the node again, with its store, on its ports.
func (n *Node) Start() { n.t.Helper(); n.start() }

// Running reports whether the node's process is alive.
func (n *Node) Running() bool { return n.running() }

// Output returns everything the node printed.
func (n *Node) Output() string { return n.out.String() }

// Cluster is three nats-server nodes with JetStream, routed to each other.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// StartCluster starts a three-node cluster in fresh directories and waits
// until every node accepts connections; the test's cleanup kills what is
// left running.
func StartCluster(t testing.TB, bins Bins) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	dir := t.TempDir()
	for i := range 3 {
		c.Nodes = append(c.Nodes, &Node{Name: fmt.Sprintf("n%d", i+1), Port: freePort(t), ClusterPort: freePort(t)})
	}
	for _, n := range c.Nodes {
		var routes []string
		for _, o := range c.Nodes {
			if o != n {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.ClusterPort))
			}
		}
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\n"+
			"cluster { name: streamhub\n listen: 127.0.0.1:%d\n routes: [%s] }\n",
			n.Name, n.Port, filepath.Join(dir, n.Name), n.ClusterPort, strings.Join(routes, ", "))
		path := filepath.Join(dir, n.Name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.proc = proc{t: t, name: "nats " + n.Name, bin: bins.NATSServer, args: []string{"-c", path}, out: &testsupport.Buffer{}}
		t.Cleanup(n.kill)
		n.start()
	}
	for _, n := range c.Nodes {
		waitListening(t, n.Port, 20*time.Second)
	}
	return c
}

// URLs returns every node's client URL, comma-separated.
func (c *Cluster) URLs() string {
	var u []string
	for _, n := range c.Nodes {
		u = append(u, n.URL())
	}
	return strings.Join(u, ",")
}

// Node returns the node named name (as JetStream names a leader).
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %q", name)
	return nil
}

// Dump logs every node's output; call it when a test failed.
func (c *Cluster) Dump() {
	for _, n := range c.Nodes {
		c.t.Logf("=== output of %s:\n%s", n.name, tail(n.out.String(), 4000))
	}
}

func waitListening(t testing.TB, port int, timeout time.Duration) {
	t.Helper()
	testsupport.WaitFor(t, fmt.Sprintf("a listener on port %d", port), timeout, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
}

// Hub is one hub process.
type Hub struct {
	proc
	Name string
	Port int
}

// StartHub starts a hub named name on a free port against natsURLs with
// the extra flags, and waits until it is ready. The test's cleanup kills
// it if it is still running.
func StartHub(t testing.TB, bins Bins, name, natsURLs string, flags ...string) *Hub {
	t.Helper()
	h := &Hub{Name: name, Port: freePort(t)}
	args := append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", h.Port), "--nats-url", natsURLs,
		"--data-dir", t.TempDir()}, flags...)
	h.proc = proc{t: t, name: "hub " + name, bin: bins.Hub, args: args, out: &testsupport.Buffer{}}
	t.Cleanup(h.kill)
	h.Start()
	return h
}

// Start starts the hub again on its port and waits until it is ready.
func (h *Hub) Start() {
	h.t.Helper()
	h.start()
	testsupport.WaitFor(h.t, h.name+" ready", 60*time.Second, func() bool {
		if !h.running() {
			h.t.Fatalf("%s exited:\n%s", h.name, tail(h.out.String(), 4000))
		}
		return h.Ready() == http.StatusOK
	})
}

// WSURL returns the hub's WebSocket URL.
func (h *Hub) WSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/v1/ws", h.Port) }

// Ready returns /readyz's status code, or 0 when the hub does not answer
// within a second.
func (h *Hub) Ready() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", h.Port), nil)
	if err != nil {
		return 0
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Kill SIGKILLs the hub and waits for it to exit.
func (h *Hub) Kill() { h.t.Helper(); h.signal(syscall.SIGKILL); h.wait(10 * time.Second) }

// Term sends SIGTERM (a graceful shutdown) and waits up to timeout for the
// hub to exit.
func (h *Hub) Term(timeout time.Duration) { h.t.Helper(); h.signal(syscall.SIGTERM); h.wait(timeout) }

// Output returns everything the hub logged, over all its runs.
func (h *Hub) Output() string { return h.out.String() }

// Count returns how many times s occurs in the hub's output.
func (h *Hub) Count(s string) int { return strings.Count(h.out.String(), s) }

// WaitLog polls until s occurs more than n times in the hub's output and
// returns the time the hub logged its (n+1)th occurrence at (the line's
// time= field, same clock as the test's), failing the test after timeout.
func (h *Hub) WaitLog(s string, n int, timeout time.Duration) time.Time {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for h.Count(s) <= n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s did not log %q within %v:\n%s", h.name, s, timeout, tail(h.out.String(), 4000))
		}
		time.Sleep(2 * time.Millisecond)
	}
	seen := 0
	for _, line := range strings.Split(h.out.String(), "\n") {
		if !strings.Contains(line, s) {
			continue
		}
		if seen++; seen <= n {
			continue
		}
		field, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, field)
		if err != nil {
			h.t.Fatalf("%s: no time in %q: %v", h.name, line, err)
		}
		return at
	}
	h.t.Fatalf("%s: line %q vanished", h.name, s)
	return time.Time{}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
