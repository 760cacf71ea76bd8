package history

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("history: consumer on JOBS: %w", nats.ErrNoResponders), true},
		{fmt.Errorf("history: fetch: %w", nats.ErrTimeout), true},
		{fmt.Errorf("history: fetch: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("history: fetch: %w", jetstream.ErrConsumerNotFound), true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{fmt.Errorf("history: stream: %w", jetstream.ErrStreamNotFound), false},
		{fmt.Errorf("%w: gone", ErrInsufficientState), false},
		{fmt.Errorf("%w: 9", ErrFuturePosition), false},
		{errors.New("something else"), false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A read that meets transient errors is tried again with a pause, up to
// Attempts in all; one that fails for good is not.
func TestRetry(t *testing.T) {
	r := New(nil, nil, Config{Timeout: 9 * time.Second, Attempts: 4})
	ctx := context.Background()

	calls := 0
	err := r.retry(ctx, func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("history: consumer on JOBS: %w", nats.ErrNoResponders)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("two transient failures then success: err %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	err = r.retry(ctx, func(context.Context) error { calls++; return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || calls != 4 {
		t.Fatalf("always transient: err %v after %d calls, want no responders after 4", err, calls)
	}

	calls = 0
	err = r.retry(ctx, func(context.Context) error { calls++; return ErrInsufficientState })
	if !errors.Is(err, ErrInsufficientState) || calls != 1 {
		t.Fatalf("final error: err %v after %d calls, want insufficient state after 1", err, calls)
	}

	// Each attempt has a deadline of its own, shorter than the whole read.
	calls = 0
	err = r.retry(ctx, func(actx context.Context) error {
		calls++
		d, ok := actx.Deadline()
		if !ok || time.Until(d) > 3*time.Second {
			t.Errorf("attempt deadline %v (set %v), want within Timeout/3", time.Until(d), ok)
		}
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}
