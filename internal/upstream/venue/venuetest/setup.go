package venuetest

import (
	"context"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
)

// Setup starts what a connector test needs: a fake venue, a real
// nats-server with a Recorder on ticks.>, and a Connector for adapter a
// between them, running until the test ends. cfg.URL is set to the fake
// venue's URL with path, cfg.Symbols to symbols; a zero backoff becomes
// 20–50 ms so that reconnections are quick.
func Setup(t *testing.T, a venue.Adapter, path string, cfg venue.Config, symbols ...string) (*Server, *Recorder, *venue.Connector) {
	t.Helper()
	fake := NewServer(t)
	url := bustest.StartNATS(t).ClientURL()
	rec := Record(t, url, "ticks.>")
	cfg.URL = fake.URL(path)
	syms, err := venue.ParseSymbols(symbols)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Symbols = syms
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 50*time.Millisecond
	}
	c, err := venue.New(Connect(t, url), a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	Go(t, c.Run)
	return fake, rec, c
}

// CheckOut is a venue.Out for fuzz targets: it panics on a tick whose bid,
// ask or last is not a decimal string, which a decoder must never publish.
type CheckOut struct{}

// Tick implements venue.Out.
func (CheckOut) Tick(_ venue.Symbol, t *upstream.Tick) {
	for _, d := range []string{t.Bid, t.Ask, t.Last} {
		if _, ok := venue.Decimal(d); !ok {
			panic("published a price that is not a decimal: " + d)
		}
	}
}

// Gap implements venue.Out.
func (CheckOut) Gap(...venue.Symbol) {}

// FuzzAdapter runs frames through a fresh adapter subscribed to symbols,
// first start (frames a valid session begins with), then frame twice; the
// adapter must not panic and may publish only decimal prices.
func FuzzAdapter(t *testing.T, a venue.Adapter, symbols []string, frame []byte, start ...[]byte) {
	syms, err := venue.ParseSymbols(symbols)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Subscribe(syms); err != nil {
		t.Fatal(err)
	}
	a.Reset()
	now := time.UnixMilli(1732712345678)
	for _, f := range start {
		_ = a.Handle(f, now, CheckOut{})
	}
	_ = a.Handle(frame, now, CheckOut{})
	_ = a.Handle(frame, now, CheckOut{})
}

// every calls step(1), step(2), … every interval until ctx is done (nil)
// or step fails (its error).
func every(ctx context.Context, interval time.Duration, step func(i int) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := step(i); err != nil {
			return err
		}
	}
}
