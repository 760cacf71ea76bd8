package venue

import (
	"log/slog"
	"time"
)

// logInterval is the least time between two warnings of one connector, so
// a venue that sends a stream of bad frames cannot flood the log.
const logInterval = 10 * time.Second

// limitedLog writes at most one warning per logInterval and says how many
// it held back. Used by Run's goroutine only.
type limitedLog struct {
	log        *slog.Logger
	last       time.Time
	suppressed int
}

func (l *limitedLog) warn(msg string, args ...any) {
	if !l.last.IsZero() && time.Since(l.last) < logInterval {
		l.suppressed++
		return
	}
	if l.suppressed > 0 {
		args = append(args, "suppressed", l.suppressed)
	}
	l.log.Warn(msg, args...)
	l.last, l.suppressed = time.Now(), 0
}
