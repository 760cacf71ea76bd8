package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
)

// SpawnConfig configures SpawnHub and SpawnNATSWS. The zero value of each
// field means the default its comment states.
type SpawnConfig struct {
	// Exe is the hub binary, which has the "serve" and
	// "bench-nats-server" subcommands. Default: this executable.
	Exe string
	// Args replaces the subcommand and flags the child is started with;
	// "{listen}", "{nats-listen}", "{port}", "{ws-port}" and "{data-dir}"
	// in it are replaced by the chosen values. Default: the hub's
	// "serve" or "bench-nats-server" command line (see SpawnHub,
	// SpawnNATSWS). Tests use it to run a test binary as the child.
	Args []string
	// ReadyTimeout bounds the wait for the child to be ready. Default 30 s.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Default 5 s.
	StopTimeout time.Duration
	// Logger receives the child's start and stop. Nil discards.
	Logger *slog.Logger

	port int // SpawnCentrifugo: the port its configuration names
}

func (c SpawnConfig) withDefaults() (SpawnConfig, error) {
	if c.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("loadgen: find this executable: %w", err)
		}
		c.Exe = exe
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 30 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Broker is a broker running as a child process on loopback ports. Stop
// it with Stop; it is also killed when the context given to SpawnHub or
// SpawnNATSWS ends and, on Linux, when this process dies. Its methods are
// safe for concurrent use.
type Broker struct {
	// Target is the kind of broker; WSURL is where the clients connect.
	// The publisher connects to NATSURL, with NATSCredentials (a spawned
	// hub's embedded server requires them), for streamhub and nats-ws,
	// and to PublishURL for the other peers (see Config.PublishURL).
	Target          Target
	WSURL           string
	NATSURL         string
	NATSCredentials bus.Credentials
	PublishURL      string

	cmd     *exec.Cmd
	stderr  *tailBuffer
	done    chan struct{} // closed when the child has exited
	waitErr error         // set before done is closed
	dataDir string        // removed by Stop; "" for none
	stopTO  time.Duration
	log     *slog.Logger
	once    sync.Once
	stopErr error
}

// SpawnHub starts "EXE serve --listen 127.0.0.1:P --nats-listen
// 127.0.0.1:Q --data-dir TMP --demo=false --insecure-no-auth --log-level
// warn" on free loopback ports (no API keys: authentication costs nothing
// per message, only per connection), with the STREAMHUB_* environment
// variables removed so nothing changes those flags, and waits until
// GET /readyz answers 200.
func SpawnHub(ctx context.Context, cfg SpawnConfig) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "streamhub-bench-")
	if err != nil {
		return nil, fmt.Errorf("loadgen: data dir: %w", err)
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	natsListen := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	args := cfg.Args
	if args == nil {
		args = []string{"serve", "--listen", "{listen}", "--nats-listen", "{nats-listen}",
			"--data-dir", "{data-dir}", "--demo=false", "--insecure-no-auth", "--log-level", "warn"}
	}
	b := &Broker{Target: TargetStreamHub, WSURL: "ws://" + listen + "/v1/ws", NATSURL: "nats://" + natsListen, dataDir: dataDir}
	repl := strings.NewReplacer("{listen}", listen, "{nats-listen}", natsListen, "{data-dir}", dataDir,
		"{port}", strconv.Itoa(ports[1]), "{ws-port}", strconv.Itoa(ports[0]))
	ready := func(ctx context.Context) error { return httpReady(ctx, "http://"+listen+"/readyz") }
	if err := b.start(ctx, cfg, repl, args, ready); err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, err
	}
	// A ready hub has created its NATS credentials (a child that is not a
	// hub, in tests, may have none).
	creds, err := bus.ReadCredentials(filepath.Join(dataDir, bus.CredentialsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = b.Stop()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	b.NATSCredentials = creds
	return b, nil
}

// SpawnNATSWS starts "EXE bench-nats-server --port Q --ws-port P" on free
// loopback ports and waits until both accept TCP connections.
func SpawnNATSWS(ctx context.Context, cfg SpawnConfig) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	ws := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	client := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	args := cfg.Args
	if args == nil {
		args = []string{"bench-nats-server", "--port", "{port}", "--ws-port", "{ws-port}"}
	}
	b := &Broker{Target: TargetNATSWS, WSURL: "ws://" + ws, NATSURL: "nats://" + client}
	repl := strings.NewReplacer("{listen}", ws, "{nats-listen}", client, "{data-dir}", "",
		"{port}", strconv.Itoa(ports[1]), "{ws-port}", strconv.Itoa(ports[0]))
	ready := func(ctx context.Context) error {
		if err := tcpReady(ctx, client); err != nil {
			return err
		}
		return tcpReady(ctx, ws)
	}
	if err := b.start(ctx, cfg, repl, args, ready); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Broker) start(ctx context.Context, cfg SpawnConfig, repl *strings.Replacer, args []string, ready func(context.Context) error) error {
	final := make([]string, len(args))
	for i, a := range args {
		final[i] = repl.Replace(a)
	}
	b.stderr = &tailBuffer{max: 16 << 10}
	b.done = make(chan struct{})
	b.stopTO, b.log = cfg.StopTimeout, cfg.Logger
	cmd := exec.CommandContext(ctx, cfg.Exe, final...)
	cmd.Env = benchEnv()
	cmd.Stdout = b.stderr
	cmd.Stderr = b.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = cfg.StopTimeout
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("loadgen: start %s: %w", cfg.Exe, err)
	}
	b.cmd = cmd
	go func() {
		b.waitErr = cmd.Wait()
		close(b.done)
	}()
	b.log.Info("broker started", "target", b.Target, "pid", cmd.Process.Pid, "ws", b.WSURL, "nats", b.NATSURL)

	rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ready(rctx) }()
	select {
	case err := <-errc:
		if err == nil {
			return nil
		}
		_ = b.Stop()
		return fmt.Errorf("loadgen: %v child not ready: %w; its output: %s", b.Target, err, b.Output())
	case <-b.done:
		cancel()
		<-errc
		return fmt.Errorf("loadgen: %v child exited before it was ready (%v); its output: %s", b.Target, b.waitErr, b.Output())
	}
}

// PID returns the child's process id.
func (b *Broker) PID() int { return b.cmd.Process.Pid }

// Output returns the last 16 KiB the child wrote to stdout and stderr.
func (b *Broker) Output() string { return strings.TrimSpace(b.stderr.String()) }

// Exited reports whether the child has exited already.
func (b *Broker) Exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to StopTimeout, then kills the child; it
// removes the hub's temporary data directory. It returns nil if the child
// exited after SIGTERM; calling it again returns the same result.
func (b *Broker) Stop() error {
	b.once.Do(func() {
		if !b.Exited() {
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-b.done:
		case <-time.After(b.stopTO):
			_ = b.cmd.Process.Kill()
			<-b.done
			b.stopErr = fmt.Errorf("loadgen: %v child did not stop within %v of SIGTERM and was killed", b.Target, b.stopTO)
		}
		if b.dataDir != "" {
			_ = os.RemoveAll(b.dataDir)
		}
		b.log.Info("broker stopped", "target", b.Target, "pid", b.cmd.Process.Pid, "exit", b.waitErr)
	})
	return b.stopErr
}

// benchEnv is this process's environment without STREAMHUB_* variables,
// which would otherwise set the child hub's flags (an external NATS URL,
// for example).
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STREAMHUB_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts finds n free loopback ports by listening on port 0. Another
// process could take one before the child binds it; the child then fails
// to start and the error says so.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("loadgen: find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// httpReady polls url every 50 ms until it answers 200 or ctx ends.
func httpReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	return poll(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
}

// tcpReady polls addr every 50 ms until it accepts a TCP connection.
func tcpReady(ctx context.Context, addr string) error {
	var d net.Dialer
	return poll(ctx, func() error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// poll calls try every 50 ms until it succeeds or ctx ends, returning the
// last error then.
func poll(ctx context.Context, try func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
