package server

import (
	"context"
	"errors"
	"time"

	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/history"
	"github.com/streamhub/streamhub/internal/protocol"
)

// historyAdapter gives the gateway the history reader, with its errors as
// the protocol's answers.
type historyAdapter struct{ r *history.Reader }

func (h historyAdapter) Snapshot(ctx context.Context, pattern string) (gateway.Backlog, error) {
	msgs, truncated, err := h.r.Snapshot(ctx, pattern)
	return gateway.Backlog{Msgs: msgs, Truncated: truncated}, historyError(err)
}

func (h historyAdapter) Replay(ctx context.Context, pattern string, epoch, after uint64) (gateway.Backlog, error) {
	msgs, err := h.r.Replay(ctx, pattern, epoch, after)
	if errors.Is(err, history.ErrNotStored) {
		// At-most-once streams (ticks) cannot be replayed: the current
		// values stand in for what was missed.
		return h.Snapshot(ctx, pattern)
	}
	return gateway.Backlog{Msgs: msgs, Recovered: err == nil}, historyError(err)
}

func historyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, history.ErrInsufficientState):
		return protocol.Errorf(protocol.CodeInsufficientState, "%v; subscribe again with snapshot", err)
	case errors.Is(err, history.ErrFuturePosition):
		return protocol.Errorf(protocol.CodeInvalidOption, "%v", err)
	}
	return err
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
