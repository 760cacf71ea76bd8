package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The audit journal: every key event as a JSON [AuditRecord] in a
// JetStream stream, so that it outlasts the terminal or the log of whoever
// caused it and can be queried ([ReadAudit], `hub keys audit`).
//
// Subjects are AuditSubjectPrefix.<event>.<key id> ("_" when no key is
// known). They start with "$", which clients can neither subscribe to nor
// publish on (protocol.ReservedSubject), so the journal is reachable only
// with the hub's NATS credentials.
const (
	DefaultAuditStream   = "AUDIT"
	AuditSubjectPrefix   = "$SH.audit.keys"
	DefaultAuditMaxAge   = 90 * 24 * time.Hour
	DefaultAuditMaxBytes = 64 << 20
	// DefaultAuditWindow is the aggregation window of authentication
	// failures and limit hits: one record per (event, reason, key, source)
	// and window.
	DefaultAuditWindow = time.Minute
	// MaxAuditAggregates bounds the distinct (event, reason, key, source)
	// tuples counted in one window; past it they are counted in one record
	// with key and source "*".
	MaxAuditAggregates = 1000
	journalQueue       = 1024 // records waiting to be published
	journalPublishWait = 5 * time.Second
	noKey              = "_"
)

// EventLimitHit is an audit event: a key hit one of its limits (its
// connections, its publish rate, the admin API's rate). Aggregated like
// authentication failures.
const EventLimitHit = "limit_hit"

// Actor kinds: who caused an audit event.
const (
	ActorCLI   = "cli"   // an operator running `hub keys`
	ActorAdmin = "admin" // a request to the HTTP admin API, with an admin key
	ActorHub   = "hub"   // the hub itself (expiry, failures, limit hits)
)

// Actor is who caused an audit event: its Kind (ActorCLI, ActorAdmin,
// ActorHub), ID (the operator's OS user for the CLI, the admin key's id
// for the admin API) and Host (the hostname of the process that acted).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Host string `json:"host,omitempty"`
}

type actorKey struct{}

// WithActor returns ctx carrying a, the actor that [Store.Create],
// [Store.Rotate] and [Store.Revoke] record in the journal. Without one they
// record the hub itself.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// WithSource returns ctx carrying the address the request came from, for
// the journal's Source field.
func WithSource(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

type sourceKey struct{}

// CLIActor is the actor of a command run by the current OS user on this
// host.
func CLIActor() Actor {
	a := Actor{Kind: ActorCLI, Host: hostname()}
	if u, err := user.Current(); err == nil {
		a.ID = u.Username
	}
	return a
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// AuditRecord is one journal entry. It never holds a secret, a presented
// key, a token or a hash.
type AuditRecord struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	KeyID string    `json:"key_id,omitempty"`
	// NewKeyID is the replacement's id in a key_rotated record.
	NewKeyID string `json:"new_key_id,omitempty"`
	Actor    Actor  `json:"actor"`
	// Source is the client address: of the request that made a change, or
	// of the failures or limit hits counted.
	Source string `json:"source,omitempty"`
	// Changes are what the event set: fields of the key for key_created,
	// the new expiry for key_rotated, and so on.
	Changes map[string]any `json:"changes,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	// Count, Since and Until describe an aggregated record (auth_failed,
	// token_rejected, limit_hit): Count events in [Since, Until).
	Count uint64    `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// JournalConfig configures a [Journal]. The zero value is valid.
type JournalConfig struct {
	// Stream is the JetStream stream; "" means DefaultAuditStream.
	Stream string
	// MaxAge and MaxBytes bound the stream (oldest records go first); 0
	// means DefaultAuditMaxAge (90 days) and DefaultAuditMaxBytes (64 MiB).
	MaxAge   time.Duration
	MaxBytes int64
	// Replicas of the stream when created; 0 means 1.
	Replicas int
	// Manage creates or updates the stream with these limits (the hub
	// does). Otherwise an existing stream is used as it is, and a missing
	// one is created with these limits (the command line does).
	Manage bool
	// Window is the aggregation window of failures and limit hits; 0
	// means DefaultAuditWindow.
	Window time.Duration
	// Logger receives a line when records cannot be published; nil
	// discards.
	Logger *slog.Logger
}

// Journal publishes audit records to the stream. Record, Aggregate and the
// accessors are safe for concurrent use and never block: records wait in a
// bounded queue for the journal's goroutine, and a record that finds the
// queue full is dropped and counted (Dropped). Close flushes and stops.
type Journal struct {
	js     jetstream.JetStream
	cfg    JournalConfig
	log    *slog.Logger
	host   string
	queue  chan AuditRecord
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
	// drainCtx bounds the publishes after Close; set before stop is closed.
	drainCtx context.Context

	aggMu    sync.Mutex
	agg      map[aggKey]uint64 // guarded by aggMu
	aggSince time.Time         // guarded by aggMu

	dropped atomic.Uint64
	failed  atomic.Uint64
	written atomic.Uint64
}

type aggKey struct{ event, reason, keyID, source string }

// OpenJournal binds to (or creates) the audit stream and starts the
// journal's goroutine.
func OpenJournal(ctx context.Context, js jetstream.JetStream, cfg JournalConfig) (*Journal, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultAuditStream
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultAuditMaxAge
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultAuditMaxBytes
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultAuditWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sc := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "StreamHub key audit journal (never secrets)",
		Subjects:    []string{AuditSubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Replicas:    cfg.Replicas,
		Duplicates:  2 * time.Minute, // every hub records an expiry; one is kept
	}
	var err error
	if cfg.Manage {
		_, err = js.CreateOrUpdateStream(ctx, sc)
	} else if _, err = js.Stream(ctx, cfg.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: audit stream %s: %w", cfg.Stream, err)
	}
	j := &Journal{
		js: js, cfg: cfg, log: cfg.Logger, host: hostname(),
		queue: make(chan AuditRecord, journalQueue),
		stop:  make(chan struct{}), done: make(chan struct{}),
		agg: make(map[aggKey]uint64), aggSince: time.Now().UTC(),
	}
	go j.run()
	return j, nil
}

// Stream returns the name of the audit stream.
func (j *Journal) Stream() string { return j.cfg.Stream }

// Dropped counts records lost because the queue was full; Failed those
// the stream did not accept; Written those it did.
func (j *Journal) Dropped() uint64 { return j.dropped.Load() }
func (j *Journal) Failed() uint64  { return j.failed.Load() }
func (j *Journal) Written() uint64 { return j.written.Load() }

// Record queues r for the stream, stamping its time and, when r names no
// actor, the hub on this host. It never blocks.
func (j *Journal) Record(r AuditRecord) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.Actor.Kind == "" {
		r.Actor = Actor{Kind: ActorHub, Host: j.host}
	}
	select {
	case j.queue <- r:
	default:
		j.dropped.Add(1)
	}
}

// Aggregate counts one event (EventAuthFailed, EventTokenRejected,
// EventLimitHit) with its reason, key id ("" if none) and source; the
// counts of a window are recorded when it ends, one record per distinct
// tuple, at most MaxAuditAggregates of them (the rest under key and
// source "*").
func (j *Journal) Aggregate(event, reason, keyID string, source netip.Addr) {
	k := aggKey{event: event, reason: reason, keyID: keyID, source: "-"}
	if source.IsValid() {
		k.source = source.String()
	}
	j.aggMu.Lock()
	if _, ok := j.agg[k]; !ok && len(j.agg) >= MaxAuditAggregates {
		k.keyID, k.source = "*", "*"
	}
	j.agg[k]++
	j.aggMu.Unlock()
}

// flushAggregates turns the window's counts into records.
func (j *Journal) flushAggregates() {
	now := time.Now().UTC()
	j.aggMu.Lock()
	agg, since := j.agg, j.aggSince
	j.agg, j.aggSince = make(map[aggKey]uint64), now
	j.aggMu.Unlock()
	for k, n := range agg {
		j.Record(AuditRecord{Time: now, Event: k.event, Reason: k.reason, KeyID: k.keyID,
			Source: k.source, Count: n, Since: since, Until: now})
	}
}

// Close records the current window's counts, publishes what is queued
// (until ctx is done: what is left then is counted as failed) and stops the
// goroutine, waiting for it. Records given after Close are dropped. Close is
// idempotent; only the first call's ctx bounds the drain.
func (j *Journal) Close(ctx context.Context) {
	j.closed.Do(func() {
		j.flushAggregates()
		j.drainCtx = ctx
		close(j.stop)
	})
	<-j.done
}

func (j *Journal) run() {
	defer close(j.done)
	t := time.NewTicker(j.cfg.Window)
	defer t.Stop()
	for {
		select {
		case r := <-j.queue:
			j.publish(r)
		case <-t.C:
			j.flushAggregates()
		case <-j.stop:
			for {
				select {
				case r := <-j.queue:
					if j.drainCtx.Err() != nil {
						j.failed.Add(1)
						continue
					}
					j.publish(r)
				default:
					return
				}
			}
		}
	}
}

func (j *Journal) publish(r AuditRecord) {
	data, err := json.Marshal(r)
	if err != nil {
		j.failed.Add(1)
		return
	}
	id := r.KeyID
	if id == "" || id == "*" {
		id = noKey
	}
	m := nats.NewMsg(AuditSubjectPrefix + "." + r.Event + "." + id)
	m.Data = data
	if r.Event == EventKeyExpired {
		// Every hub sees the expiry; the stream keeps one record.
		m.Header.Set(jetstream.MsgIDHeader, "expired."+r.KeyID+"."+strconv.FormatInt(r.Time.UnixNano(), 10))
	}
	parent := context.Background()
	select {
	case <-j.stop:
		parent = j.drainCtx // closing: the drain's bound applies too
	default:
	}
	ctx, cancel := context.WithTimeout(parent, journalPublishWait)
	defer cancel()
	if _, err := j.js.PublishMsg(ctx, m); err != nil {
		if j.failed.Add(1) == 1 || j.failed.Load()%1000 == 0 {
			j.log.Warn("auth: audit record not stored", "event", r.Event, AttrKeyID, r.KeyID, "error", err, "failed_total", j.failed.Load())
		}
		return
	}
	j.written.Add(1)
}

// AuditQuery selects audit records for [ReadAudit].
type AuditQuery struct {
	// Stream is the audit stream; "" means DefaultAuditStream.
	Stream string
	// KeyID selects the records of one key; "" means all.
	KeyID string
	// Since selects records stored at or after it; zero means all.
	Since time.Time
	// Limit keeps the newest Limit records; 0 means 1000.
	Limit int
}

// ErrNoAudit: the audit stream does not exist (nothing was audited yet).
var ErrNoAudit = errors.New("auth: no audit stream")

// ReadAudit returns the records q selects, oldest first. It reads the
// stream with an ordered consumer of its own and returns once it reached
// the end (or ctx is done).
func ReadAudit(ctx context.Context, js jetstream.JetStream, q AuditQuery) ([]AuditRecord, error) {
	if q.Stream == "" {
		q.Stream = DefaultAuditStream
	}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	filter := AuditSubjectPrefix + ".>"
	if q.KeyID != "" {
		if !isBase62(q.KeyID) || len(q.KeyID) != idLen {
			return nil, fmt.Errorf("%w: not a key id", ErrInvalidRequest)
		}
		filter = AuditSubjectPrefix + ".*." + q.KeyID
	}
	st, err := js.Stream(ctx, q.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, ErrNoAudit
	}
	if err != nil {
		return nil, fmt.Errorf("auth: audit stream %s: %w", q.Stream, err)
	}
	if st.CachedInfo().State.Msgs == 0 {
		return nil, nil
	}
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if !q.Since.IsZero() {
		since := q.Since
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, q.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("auth: read audit stream: %w", err)
	}
	var out []AuditRecord
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("auth: read audit stream: %w", err)
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("auth: read audit stream: %w", err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			var r AuditRecord
			if json.Unmarshal(m.Data(), &r) == nil {
				out = append(out, r)
				if len(out) > q.Limit {
					out = out[1:]
				}
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("auth: read audit stream: %w", err)
		}
		if last || n == 0 {
			return out, nil
		}
	}
}
