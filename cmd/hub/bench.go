package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/streamhub/streamhub/internal/loadgen"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/server"
)

// benchSlack is what a target may take beyond --duration: starting the
// broker, connecting the clients, the warm-up, the drain and the stop.
const benchSlack = 30 * time.Second

// benchHidden are flags for profiling and debugging, left out of -h.
var benchHidden = map[string]bool{"in-process": true, "cpuprofile": true}

// bench runs the load tool: for each target it starts the broker as a
// child process on free loopback ports, drives it with the workload, stops
// it and prints what was measured. Each target takes at most --duration +
// 30 s.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "both", "broker to measure: streamhub, nats-ws (nats-server's own WebSocket listener) or both")
	clients := fs.Int("clients", 200, "WebSocket clients")
	rate := fs.Float64("rate", 2000, "messages published per second, over all subjects")
	duration := fs.Duration("duration", 10*time.Second, "how long to publish (at most 120s)")
	subjects := fs.Int("subjects", 20, "subjects published to, round-robin (ticks.bench.S0 …)")
	payload := fs.Int("payload", 120, "payload bytes per message (a JSON tick padded to size)")
	subscribe := fs.String("subscribe", "one", "one: client i subscribes to subject i mod --subjects; all: every client to every subject (ticks.bench.>)")
	encoding := fs.String("encoding", "json", "StreamHub clients' encoding: json or msgpack")
	policy := fs.String("policy", "", "StreamHub overflow policy: keep-latest, drop-oldest or disconnect (default: the subject's, keep-latest for ticks.)")
	maxRate := fs.Float64("max-rate", 0, "StreamHub max_rate per subject per client (0: unlimited; implies keep-latest)")
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of a table")
	outFile := fs.String("out", "", "also write the results as JSON to this file")
	verbose := fs.Bool("v", false, "log each phase to stderr")
	inProcess := fs.Bool("in-process", false, "run the broker in this process (its CPU then includes the load tool's)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process during the measured runs (with --in-process: broker and load tool)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hub bench [flags]\n\nMeasures StreamHub, and nats-server's WebSocket listener as a peer, over loopback.")
		fs.VisitAll(func(f *flag.Flag) {
			if !benchHidden[f.Name] {
				name, use := flag.UnquoteUsage(f)
				fmt.Fprintf(stderr, "  --%s %s\n    \t%s", f.Name, name, use)
				if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
					fmt.Fprintf(stderr, " (default %s)", f.DefValue)
				}
				fmt.Fprintln(stderr)
			}
		})
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench: unexpected arguments %q", fs.Args())
	}
	var targets []loadgen.Target
	switch *target {
	case "both":
		targets = []loadgen.Target{loadgen.TargetStreamHub, loadgen.TargetNATSWS}
	default:
		t, err := loadgen.ParseTarget(*target)
		if err != nil {
			return usageErrorf("bench: --target: %w", err)
		}
		targets = []loadgen.Target{t}
	}
	if *duration <= 0 || *duration > loadgen.MaxDuration {
		return usageErrorf("bench: --duration %v not in (0, %v]", *duration, loadgen.MaxDuration)
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	cfg := loadgen.Config{
		Clients: *clients, Rate: *rate, Duration: *duration, Subjects: *subjects, Payload: *payload,
		MaxRate: *maxRate, Logger: log,
		SetupTimeout: 10 * time.Second, WarmupTimeout: 5 * time.Second, DrainTimeout: 5 * time.Second,
	}
	var err error
	if cfg.Policy, err = protocol.ParsePolicy(*policy); err != nil {
		return usageErrorf("bench: --policy: %w", err)
	}
	switch *encoding {
	case "json":
		cfg.Encoding = protocol.EncodingJSON
	case "msgpack":
		cfg.Encoding = protocol.EncodingMsgpack
	default:
		return usageErrorf("bench: --encoding %q: want json or msgpack", *encoding)
	}
	switch *subscribe {
	case "one":
	case "all":
		cfg.Patterns = []string{loadgen.PatternAll("")}
	default:
		return usageErrorf("bench: --subscribe %q: want one or all", *subscribe)
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("bench: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	var results []loadgen.Result
	var errs []error
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		c := cfg
		c.Target = t
		r, err := benchTarget(ctx, c, *inProcess, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: %v: %w", t, err))
			fmt.Fprintf(stderr, "bench: %v failed: %v\n", t, err)
			continue
		}
		results = append(results, r)
	}
	if *outFile != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err == nil {
			err = os.WriteFile(*outFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: --out: %w", err))
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	} else if len(results) > 0 {
		fmt.Fprintf(stdout, "%d clients, %.0f msg/s over %d subjects for %v, %d-byte payloads, subscribe %s\n\n",
			cfg.Clients, cfg.Rate, cfg.Subjects, cfg.Duration, cfg.Payload, *subscribe)
		if err := loadgen.WriteTable(stdout, results); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// benchTarget starts one broker, runs the workload against it and stops
// it, all within --duration + benchSlack.
func benchTarget(ctx context.Context, cfg loadgen.Config, inProcess bool, log *slog.Logger) (loadgen.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+benchSlack)
	defer cancel()
	if inProcess {
		return benchInProcess(ctx, cfg)
	}
	spawn := loadgen.SpawnConfig{ReadyTimeout: 10 * time.Second, Logger: log}
	var b *loadgen.Broker
	var err error
	if cfg.Target == loadgen.TargetStreamHub {
		b, err = loadgen.SpawnHub(ctx, spawn)
	} else {
		b, err = loadgen.SpawnNATSWS(ctx, spawn)
	}
	if err != nil {
		return loadgen.Result{}, err
	}
	defer b.Stop()
	cfg.WSURL, cfg.NATSURL, cfg.NATSCredentials, cfg.HubPID = b.WSURL, b.NATSURL, b.NATSCredentials, b.PID()
	r, err := loadgen.Run(ctx, cfg)
	if err != nil && b.Exited() {
		err = fmt.Errorf("%w (the broker exited; its output: %s)", err, b.Output())
	}
	if serr := b.Stop(); serr != nil && err == nil {
		err = serr
	}
	return r, err
}

// benchInProcess runs the broker in this process: for profiling, or where
// spawning is not possible. Its CPU is then the whole process's.
func benchInProcess(ctx context.Context, cfg loadgen.Config) (loadgen.Result, error) {
	cfg.HubPID = os.Getpid()
	if cfg.Target == loadgen.TargetNATSWS {
		n, err := loadgen.StartNATSWS(loadgen.NATSWSConfig{})
		if err != nil {
			return loadgen.Result{}, err
		}
		defer n.Shutdown()
		cfg.WSURL, cfg.NATSURL = n.WSURL(), n.ClientURL()
		return loadgen.Run(ctx, cfg)
	}
	dir, err := os.MkdirTemp("", "streamhub-bench-")
	if err != nil {
		return loadgen.Result{}, fmt.Errorf("data dir: %w", err)
	}
	defer os.RemoveAll(dir)
	s, err := server.Start(ctx, server.Config{
		Listen: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", DataDir: dir, InsecureNoAuth: true,
	})
	if err != nil {
		return loadgen.Result{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
	}()
	cfg.WSURL, cfg.NATSURL, cfg.NATSCredentials = "ws://"+s.Addr()+"/v1/ws", s.NATSURL(), s.NATSCredentials()
	return loadgen.Run(ctx, cfg)
}

// benchNATSServer is the hidden "bench-nats-server" subcommand: the peer
// broker that "hub bench" spawns, a nats-server with its WebSocket
// listener, on loopback only, until ctx is done (SIGTERM).
func benchNATSServer(ctx context.Context, args []string, _ func(string) string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub bench-nats-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.NATSWSConfig
	fs.StringVar(&cfg.Host, "host", "127.0.0.1", "interface of both listeners (loopback only)")
	fs.IntVar(&cfg.Port, "port", -1, "NATS client port (-1: any free port)")
	fs.IntVar(&cfg.WSPort, "ws-port", -1, "WebSocket port (-1: any free port)")
	if err := fs.Parse(args); err != nil {
		return asUsage(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench-nats-server: unexpected arguments %q", fs.Args())
	}
	return loadgen.ServeNATSWS(ctx, cfg)
}
