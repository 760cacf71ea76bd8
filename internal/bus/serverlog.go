package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// serverLogger adapts nats-server's printf-style Logger to log/slog. The
// server logs per connection and per state change, never per message as
// long as tracing is off, which StartEmbedded guarantees.
type serverLogger struct {
	log *slog.Logger

	mu        sync.Mutex
	fatalMsg  string // first Fatalf line; StartEmbedded fails on it
	fatalSeen bool
}

var _ server.Logger = (*serverLogger)(nil)

func newServerLogger(log *slog.Logger) *serverLogger { return &serverLogger{log: log} }

// debugEnabled tells the server whether to produce debug lines at all, so it
// does not format lines the handler would drop.
func (l *serverLogger) debugEnabled() bool {
	return l.log.Enabled(context.Background(), slog.LevelDebug)
}

// fatal returns the first fatal message the server logged, or "".
func (l *serverLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalMsg
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

// Noticef logs at Debug: notices are the server's start-up chatter.
func (l *serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

// Warnf logs at Warn.
func (l *serverLogger) Warnf(format string, v ...any) { l.emit(slog.LevelWarn, format, v) }

// Errorf logs at Error.
func (l *serverLogger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }

// Fatalf logs at Error and records the message instead of exiting: the hub
// decides what a fatal server error means (StartEmbedded fails on it).
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if !l.fatalSeen {
		l.fatalSeen, l.fatalMsg = true, msg
	}
	l.mu.Unlock()
	l.log.Error(msg, "fatal", true)
}

// Debugf logs at Debug.
func (l *serverLogger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

// Tracef logs at Debug; StartEmbedded never enables tracing, so it is only
// reached by the server's rare unconditional trace calls.
func (l *serverLogger) Tracef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
