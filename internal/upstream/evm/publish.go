package evm

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names of the upstream convention (docs/streams.md). The ingestor
// sends no Sh-Epoch/Sh-Seq: chain messages are positioned by the stream,
// and two ingestors of one chain would number them differently.
const (
	headerTs       = "Sh-Ts"
	headerCritical = "Sh-Critical"
)

// publish stores one message in JetStream with its message id, trying up
// to cfg.PublishTries times (a retry cannot store it twice: the id
// dedups). A message still refused then is counted and logged, and the
// ingestor goes on; only ctx ending is returned.
func (g *Ingestor) publish(ctx context.Context, subject string, payload any, id string, tsMs int64, critical bool) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("evm: encode %s: %w", subject, err) // not reached: plain structs
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(headerTs, strconv.FormatInt(tsMs, 10))
	m.Header.Set(jetstream.MsgIDHeader, id)
	if critical {
		m.Header.Set(headerCritical, "1")
	}
	wait := g.cfg.BackoffMin
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
		ack, err := g.pub.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			if ack.Duplicate {
				g.stats.duplicates.Add(1)
			} else {
				g.stats.published.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if try >= g.cfg.PublishTries {
			g.publishFailed(subject, id, err)
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, g.cfg.BackoffMax)
	}
}

// publishFailed counts a message given up and logs it, at most one record
// per errorLogInterval with the number of failures not logged since.
func (g *Ingestor) publishFailed(subject, id string, err error) {
	total := g.stats.errors.Add(1)
	if !g.lastErrLog.IsZero() && time.Since(g.lastErrLog) < errorLogInterval {
		g.suppressedErrs++
		return
	}
	g.cfg.Logger.Error("evm: publish failed; message skipped", "subject", subject, "msg_id", id,
		"tries", g.cfg.PublishTries, "errors_total", total, "suppressed", g.suppressedErrs, "err", err)
	g.lastErrLog, g.suppressedErrs = time.Now(), 0
}

// errorLogInterval is the least time between two publish-failure records.
const errorLogInterval = 10 * time.Second

// hexAddr writes an address as 0x and 40 lowercase hex digits.
func hexAddr(a common.Address) string { return "0x" + hex.EncodeToString(a[:]) }

// usdOf values a stablecoin amount at 1.00 USD: amount cut to 2 decimals.
func usdOf(amount string) string {
	whole, frac, _ := strings.Cut(amount, ".")
	frac = (frac + "00")[:2]
	return whole + "." + frac
}
