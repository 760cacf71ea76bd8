package upstream

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/streamhub/streamhub/internal/subject"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// received is one message as a subscriber saw it.
type received struct {
	subject string
	hdr     nats.Header
	data    []byte
}

// recorder collects every message on a pattern, in arrival order.
type recorder struct {
	mu   sync.Mutex
	msgs []received
}

// record subscribes nc to pattern and flushes, so the subscription is live
// on the server before the function returns.
func record(t *testing.T, nc *nats.Conn, pattern string) *recorder {
	t.Helper()
	r := &recorder{}
	sub, err := nc.Subscribe(pattern, func(m *nats.Msg) {
		r.mu.Lock()
		r.msgs = append(r.msgs, received{subject: m.Subject, hdr: m.Header, data: m.Data})
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatalf("pending limits: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return r
}

func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

// runFeed runs fn on a goroutine and returns a stop function that cancels
// it, checks that it returns within a generous bound, and returns its error.
func runFeed(t *testing.T, fn func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// headerInt parses a decimal header.
func headerInt(t *testing.T, m received, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(m.hdr.Get(key), 10, 64)
	if err != nil {
		t.Fatalf("%s: header %s=%q: %v", m.subject, key, m.hdr.Get(key), err)
	}
	return v
}

// checkConvention checks what every upstream message must satisfy: a valid
// subject, Sh-Ts present, one Sh-Epoch for all, and Sh-Seq 1, 2, 3 … per
// subject (msgs must start at each subject's first message). It returns the
// epoch.
func checkConvention(t *testing.T, msgs []received) int64 {
	t.Helper()
	seq := map[string]int64{}
	epoch := int64(-1)
	for _, m := range msgs {
		if err := subject.Validate(m.subject); err != nil {
			t.Fatalf("subject %q: %v", m.subject, err)
		}
		if ts := headerInt(t, m, headerTs); ts <= 0 {
			t.Fatalf("%s: Sh-Ts %d", m.subject, ts)
		}
		e := headerInt(t, m, headerEpoch)
		if epoch == -1 {
			epoch = e
		} else if e != epoch {
			t.Fatalf("%s: Sh-Epoch %d, earlier %d", m.subject, e, epoch)
		}
		s := headerInt(t, m, headerSeq)
		if want := seq[m.subject] + 1; s != want {
			t.Fatalf("%s: Sh-Seq %d, want %d", m.subject, s, want)
		}
		seq[m.subject] = s
	}
	return epoch
}

// fakePublisher records messages in memory; failEvery > 0 makes every
// failEvery-th call fail (1 = all).
type fakePublisher struct {
	mu        sync.Mutex
	calls     int
	failEvery int
	msgs      []*nats.Msg
}

var errFake = errors.New("fake publish failure")

func (p *fakePublisher) PublishMsg(m *nats.Msg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.failEvery > 0 && p.calls%p.failEvery == 0 {
		return errFake
	}
	p.msgs = append(p.msgs, m)
	return nil
}

func (p *fakePublisher) received() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]received, len(p.msgs))
	for i, m := range p.msgs {
		out[i] = received{subject: m.Subject, hdr: m.Header, data: m.Data}
	}
	return out
}
