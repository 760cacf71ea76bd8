package upstream

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/subject"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// fastConfig gives every family traffic within a fraction of a second.
func fastConfig() Config {
	return Config{
		TickInterval:    10 * time.Millisecond,
		BlockInterval:   100 * time.Millisecond,
		JobStepInterval: 20 * time.Millisecond,
		ReorgEvery:      4,
		Seed:            21,
	}
}

func familyOf(subject string) string { return subject[:strings.IndexByte(subject, '.')] }

// TestDemoRunsAllFamilies runs the Demo against a real server: every family
// arrives with the Demo's epoch, each family's checker passes, Run returns
// promptly on cancel, and Stats matches what the subscriber received.
func TestDemoRunsAllFamilies(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	rec := record(t, connect(t, url), ">")
	pubConn := connect(t, url)
	d := NewDemo(pubConn, fastConfig())
	stop := runFeed(t, d.Run)
	testsupport.WaitFor(t, "ticks, blocks, transfers and job events", 20*time.Second, func() bool {
		n := map[string]int{}
		for _, m := range rec.snapshot() {
			n[familyOf(m.subject)]++
		}
		return n["ticks"] >= 100 && n["chain"] >= 16 && n["jobs"] >= 40
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pubConn.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	s := d.Stats()
	want := s.Ticks.Published + s.Chain.Published + s.Jobs.Published
	testsupport.WaitFor(t, "every published message", 10*time.Second, func() bool { return uint64(len(rec.snapshot())) >= want })
	msgs := rec.snapshot()
	if uint64(len(msgs)) != want {
		t.Fatalf("received %d messages, Stats counts %d published", len(msgs), want)
	}
	if epoch := checkConvention(t, msgs); epoch != d.Epoch() {
		t.Fatalf("Sh-Epoch %d, Demo.Epoch %d", epoch, d.Epoch())
	}
	byFamily := map[string]uint64{}
	chain := &chainChecker{t: t, perBlock: DefaultTransfersPerBlock}
	jobs := newJobChecker(t, defaultTenants, DefaultJobsConcurrent)
	for _, m := range msgs {
		byFamily[familyOf(m.subject)]++
		switch familyOf(m.subject) {
		case "chain":
			chain.check(m)
		case "jobs":
			jobs.check(m)
		}
	}
	if byFamily["ticks"] != s.Ticks.Published || byFamily["chain"] != s.Chain.Published || byFamily["jobs"] != s.Jobs.Published {
		t.Fatalf("received per family %v, stats %+v", byFamily, s)
	}
	if s.Ticks.Errors+s.Chain.Errors+s.Jobs.Errors != 0 {
		t.Fatalf("publish errors: %+v", s)
	}
}

// countingHandler counts log records per family attribute.
type countingHandler struct {
	mu    sync.Mutex
	warns map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "family" {
			h.mu.Lock()
			h.warns[a.Value.String()]++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *countingHandler) count(family string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns[family]
}

// TestDemoPublishErrors runs the Demo on a Publisher that always fails: Run
// keeps going, counts every failure, logs one warning per family (the next
// would be due 10 s later) and returns nil on cancel.
func TestDemoPublishErrors(t *testing.T) {
	h := &countingHandler{warns: map[string]int{}}
	cfg := fastConfig()
	cfg.Logger = slog.New(h)
	pub := &fakePublisher{failEvery: 1}
	d := NewDemo(pub, cfg)
	stop := runFeed(t, d.Run)
	testsupport.WaitFor(t, "errors in every family", 20*time.Second, func() bool {
		s := d.Stats()
		return s.Ticks.Errors >= 50 && s.Chain.Errors >= 8 && s.Jobs.Errors >= 20
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := d.Stats()
	if s.Ticks.Published+s.Chain.Published+s.Jobs.Published != 0 {
		t.Fatalf("published counted on a failing publisher: %+v", s)
	}
	for _, fam := range []string{"ticks", "chain", "jobs"} {
		if n := h.count(fam); n != 1 {
			t.Fatalf("%d warnings for %s, want exactly 1 within 10 s", n, fam)
		}
	}
}

// TestSeqSkipsFailedPublishes checks that a failed publish consumes no
// sequence number: the subscriber sees 1, 2, 3 … with no gap.
func TestSeqSkipsFailedPublishes(t *testing.T) {
	pub := &fakePublisher{failEvery: 3}
	f := NewChainFeed(pub, Config{ReorgEvery: -1, Seed: 2})
	for range 20 {
		f.step()
	}
	got := pub.received()
	if f.Stats().Errors == 0 || uint64(len(got)) != f.Stats().Published {
		t.Fatalf("stats %+v, %d received", f.Stats(), len(got))
	}
	checkConvention(t, got)
}

func TestRunRejectsBadConfigAndSecondRun(t *testing.T) {
	for name, cfg := range map[string]Config{
		"venue with dot":  {Venues: []string{"a.b"}},
		"wildcard symbol": {Symbols: []string{"*"}},
		"space in tenant": {Tenants: []string{"a b"}},
		"duplicate venue": {Venues: []string{"x", "x"}},
		"negative jobs":   {JobsConcurrent: -1},
		"fail rate > 1":   {FailRate: 1.5},
	} {
		if err := NewDemo(&fakePublisher{}, cfg).Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "upstream: ") {
			t.Errorf("%s: Run error %v, want an upstream config error", name, err)
		}
	}
	err := NewTickFeed(&fakePublisher{}, Config{Venues: []string{"a.b"}}).Run(context.Background())
	if !errors.Is(err, subject.ErrInvalid) {
		t.Errorf("TickFeed with a bad venue: %v, want subject.ErrInvalid", err)
	}

	d := NewDemo(&fakePublisher{}, fastConfig())
	stop := runFeed(t, d.Run)
	testsupport.WaitFor(t, "the demo to run", 10*time.Second, func() bool { return d.Stats().Ticks.Published > 0 })
	if err := d.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunReturnsPromptlyOnCancel cancels a Demo with slow default intervals
// mid-wait: Run must return without waiting for the next block or step.
func TestRunReturnsPromptlyOnCancel(t *testing.T) {
	d := NewDemo(&fakePublisher{}, Config{BlockInterval: time.Hour, JobStepInterval: time.Hour, TickInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testsupport.WaitFor(t, "the first block and job events", 10*time.Second, func() bool {
		s := d.Stats()
		return s.Chain.Published > 0 && s.Jobs.Published > 0
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	t.Logf("Run returned %v after cancel", time.Since(start))
}
