package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Phase bounds that are not configurable.
const (
	dialParallelism = 16                    // clients connecting at once
	warmupEvery     = 50 * time.Millisecond // one warm-up round per
	drainPoll       = 5 * time.Millisecond  // progress poll during the drain
	drainQuiet      = time.Second           // no progress for this long ends the drain
	stopTimeout     = 10 * time.Second      // closing every client
	runSlack        = 10 * time.Second      // beyond the sum of the phase bounds
)

// benchClient is a connected, subscribed client of either target.
type benchClient interface {
	// start begins receiving; a StreamHub client starts its read loop on a
	// goroutine counted by wg.
	start(ctx context.Context, wg *sync.WaitGroup)
	// stop closes the connection; once wg is done, tally may be called.
	stop()
	// abort closes the connection without a handshake.
	abort()
	// tally returns the client's recorder, why it was disconnected during
	// the run ("" if it was not) and its slow-consumer errors.
	tally() (rec *recorder, disconnected string, slow uint64)
}

// Run drives one broker with cfg's workload and returns what it measured.
// It takes at most SetupTimeout + WarmupTimeout + Duration + DrainTimeout +
// 10 s, less if ctx ends first (then it returns ctx's error). It fails if a
// client cannot connect or subscribe, or if the warm-up does not complete:
// a run in which some clients never received anything measures nothing.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout+cfg.WarmupTimeout+cfg.Duration+cfg.DrainTimeout+runSlack)
	defer cancel()

	base := time.Now()
	subjects := cfg.subjectNames()
	index := make(map[string]int, len(subjects))
	for i, s := range subjects {
		index[s] = i
	}
	var progress atomic.Uint64
	var ready atomic.Int64

	pub, err := newPublisher(ctx, cfg, subjects, base)
	if err != nil {
		return Result{}, err
	}
	defer pub.close()

	log.Info("connecting clients", "target", cfg.Target, "clients", cfg.Clients, "url", cfg.WSURL)
	clientSubjects := make([][]int, cfg.Clients)
	clients, err := connectAll(ctx, cfg, subjects, index, base, clientSubjects, &progress, &ready)
	if err != nil {
		return Result{}, err
	}
	var wg sync.WaitGroup
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		stopClients(clients, &wg)
	}
	defer stopAll()
	for _, c := range clients {
		c.start(ctx, &wg)
	}

	if err := warmup(ctx, cfg, pub, &ready, len(clients)); err != nil {
		return Result{}, err
	}
	log.Info("warm-up done; publishing", "rate", cfg.Rate, "duration", cfg.Duration)

	brokerCPU := func() time.Duration { return 0 }
	inProcess := cfg.HubPID == os.Getpid()
	if cfg.HubPID > 0 && !inProcess {
		if _, err := ProcessCPU(cfg.HubPID); err != nil {
			return Result{}, err
		}
		brokerCPU = func() time.Duration { d, _ := ProcessCPU(cfg.HubPID); return d }
	}
	cpu0, self0, t0 := brokerCPU(), SelfCPU(), time.Now()
	published, took, err := pub.run(ctx, cfg.Rate, cfg.Duration)
	if err != nil {
		return Result{}, err
	}
	var expected uint64
	for _, subs := range clientSubjects {
		for _, s := range subs {
			expected += pub.counts[s]
		}
	}
	t1 := drain(ctx, cfg, &progress, expected)
	cpu1, self1 := brokerCPU(), SelfCPU()
	log.Info("published; stopping clients", "published", published, "delivered", progress.Load(), "expected", expected)
	stopAll()

	r := cfg.newResult()
	r.Published, r.PublishTime, r.Expected, r.Window = published, took, expected, t1.Sub(t0)
	r.ToolCPU = self1 - self0
	if cfg.HubPID > 0 {
		r.BrokerPID, r.BrokerInProcess = cfg.HubPID, inProcess
		r.BrokerCPU = cpu1 - cpu0
		if inProcess {
			r.BrokerCPU = r.ToolCPU
		}
	}
	r.collect(clients)
	return r, nil
}

func (c Config) newResult() Result {
	r := Result{
		Target: c.Target.String(), Encoding: c.Encoding.String(), Clients: c.Clients,
		Subjects: c.Subjects, Rate: c.Rate, Payload: c.Payload, Subscribe: "one subject each",
	}
	if len(c.Patterns) > 0 {
		r.Subscribe = strings.Join(c.Patterns, ",")
	}
	if c.Target == TargetNATSWS {
		r.Encoding = "nats"
	} else {
		if c.Policy != protocol.PolicyDefault {
			r.Policy = c.Policy.String()
		}
		r.MaxRate = c.MaxRate
	}
	return r
}

// collect sums the clients' tallies into r and derives the rates.
func (r *Result) collect(clients []benchClient) {
	var lat histogram
	var skipped uint64
	for _, c := range clients {
		rec, disc, slow := c.tally()
		lat.merge(&rec.lat)
		r.Delivered += rec.delivered
		r.Batches += rec.batches
		r.Gaps += rec.gapped
		skipped += rec.skipped
		r.Duplicates += rec.duplicates
		r.Bad += rec.bad
		r.SlowConsumers += slow
		if disc != "" {
			r.Disconnected++
			if r.DisconnectSample == "" {
				r.DisconnectSample = disc
			}
		}
	}
	if skipped > r.Gaps {
		r.Conflated = skipped - r.Gaps
	}
	r.LatencyP50, r.LatencyP90, r.LatencyP99 = lat.quantile(0.50), lat.quantile(0.90), lat.quantile(0.99)
	r.LatencyMax = time.Duration(lat.max)
	if r.Window > 0 {
		r.DeliveredPerSec = float64(r.Delivered) / r.Window.Seconds()
	}
	if r.Delivered > 0 {
		r.ToolCPUPerDelivery = float64(r.ToolCPU.Microseconds()) / float64(r.Delivered)
		if r.BrokerCPU > 0 {
			r.BrokerCPUPerDelivery = float64(r.BrokerCPU.Nanoseconds()) / 1e3 / float64(r.Delivered)
			r.DeliveriesPerBrokerCPUSecond = float64(r.Delivered) / r.BrokerCPU.Seconds()
		}
	}
}

// connectAll dials every client, dialParallelism at a time, within
// SetupTimeout. On error every client already connected is closed.
func connectAll(ctx context.Context, cfg Config, subjects []string, index map[string]int, base time.Time,
	clientSubjects [][]int, progress *atomic.Uint64, ready *atomic.Int64) ([]benchClient, error) {
	sctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	clients := make([]benchClient, cfg.Clients)
	errs := make([]error, cfg.Clients)
	sem := make(chan struct{}, dialParallelism)
	var wg sync.WaitGroup
	for i := range clients {
		pattern := cfg.patternOf(i, subjects)
		clientSubjects[i] = matching(pattern, subjects)
		rec := newRecorder(clientSubjects[i], len(subjects), progress, ready)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-sctx.Done():
				errs[i] = fmt.Errorf("loadgen: client %d: %w", i, sctx.Err())
				return
			}
			defer func() { <-sem }()
			clients[i], errs[i] = dialClient(sctx, cfg, i, pattern, rec, index, base)
		}()
	}
	wg.Wait()
	n, first := 0, error(nil)
	for _, e := range errs {
		if e != nil {
			n++
			first = cmp.Or(first, e)
		}
	}
	if n > 0 {
		for _, c := range clients {
			if c != nil {
				c.abort()
			}
		}
		// One error is enough to read; the others are usually the same.
		return nil, fmt.Errorf("loadgen: %d of %d clients failed to connect and subscribe, first: %w", n, cfg.Clients, first)
	}
	return clients, nil
}

func dialClient(ctx context.Context, cfg Config, i int, pattern string, rec *recorder, index map[string]int, base time.Time) (benchClient, error) {
	if cfg.Target == TargetNATSWS {
		c, err := dialNATSWS(ctx, cfg, fmt.Sprintf("bench-client-%d", i), pattern, rec, index, base)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := dialHub(ctx, cfg, pattern, rec, index, base)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// warmup publishes a warm-up round on every subject every 50 ms until
// every client has received one on each of its subjects, so that every
// upstream subscription is in place before anything is measured.
func warmup(ctx context.Context, cfg Config, pub *publisher, ready *atomic.Int64, clients int) error {
	wctx, cancel := context.WithTimeout(ctx, cfg.WarmupTimeout)
	defer cancel()
	tick := time.NewTicker(warmupEvery)
	defer tick.Stop()
	for ready.Load() < int64(clients) {
		if err := pub.warmup(wctx); err != nil {
			return fmt.Errorf("loadgen: warm-up: %w", err)
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("loadgen: warm-up: only %d of %d clients received a message on each of their subjects within %v",
				ready.Load(), clients, cfg.WarmupTimeout)
		case <-tick.C:
		}
	}
	return nil
}

// drain waits until every expected delivery arrived, DrainTimeout passed,
// or nothing arrived for drainQuiet. It returns when the last delivery was
// observed.
func drain(ctx context.Context, cfg Config, progress *atomic.Uint64, expected uint64) time.Time {
	deadline := time.Now().Add(cfg.DrainTimeout)
	last, lastChange := progress.Load(), time.Now()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for last < expected && time.Now().Before(deadline) && time.Since(lastChange) < drainQuiet {
		select {
		case <-ctx.Done():
			return lastChange
		case <-tick.C:
		}
		if p := progress.Load(); p != last {
			last, lastChange = p, time.Now()
		}
	}
	return lastChange
}

// stopClients closes every client at once and waits for their read loops,
// at most stopTimeout; past it the connections are aborted.
func stopClients(clients []benchClient, wg *sync.WaitGroup) {
	var sw sync.WaitGroup
	for _, c := range clients {
		sw.Add(1)
		go func() { defer sw.Done(); c.stop() }()
	}
	done := make(chan struct{})
	go func() { sw.Wait(); wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		for _, c := range clients {
			c.abort()
		}
		<-done
	}
}
