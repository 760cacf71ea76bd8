package loadgen

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// Target names the kind of broker a run drives.
type Target uint8

const (
	// TargetStreamHub is a StreamHub: protocol v1 over WebSocket at /v1/ws.
	TargetStreamHub Target = iota + 1
	// TargetNATSWS is nats-server's own WebSocket listener, driven by
	// nats.go connections over ws://.
	TargetNATSWS
)

// String returns the target's flag name.
func (t Target) String() string {
	switch t {
	case TargetStreamHub:
		return "streamhub"
	case TargetNATSWS:
		return "nats-ws"
	}
	return fmt.Sprintf("Target(%d)", uint8(t))
}

// ParseTarget parses a name as returned by String.
func ParseTarget(s string) (Target, error) {
	switch s {
	case "streamhub":
		return TargetStreamHub, nil
	case "nats-ws":
		return TargetNATSWS, nil
	}
	return 0, fmt.Errorf("loadgen: unknown target %q (want streamhub or nats-ws)", s)
}

// Limits of a Config, so that a typo cannot start an unbounded run.
const (
	MaxClients     = 10_000
	MaxRate        = 1_000_000 // messages per second
	MaxDuration    = 120 * time.Second
	MaxSubjects    = 10_000
	MinPayload     = 64 // room for the timestamp and the sequence
	MaxPayload     = 64 << 10
	DefaultSubject = "ticks.bench"
)

// Config describes one run. The zero value of each field means the default
// its comment states; Target, WSURL and NATSURL are required.
type Config struct {
	// Target is the kind of broker behind WSURL.
	Target Target
	// WSURL is where clients connect: ws://127.0.0.1:PORT/v1/ws for a
	// StreamHub, ws://127.0.0.1:PORT for nats-server. Loopback only.
	WSURL string
	// NATSURL is the NATS server the publisher uses (the hub's, or the
	// nats-server under test itself). Loopback only.
	NATSURL string
	// NATSCredentials are presented to NATSURL: a hub's embedded server
	// requires them (see bus.CredentialsFile). Default none.
	NATSCredentials bus.Credentials

	// Clients is the number of WebSocket clients. Default 200.
	Clients int
	// Rate is the publish rate in messages per second, over all subjects.
	// Default 2000.
	Rate float64
	// Duration is how long the publisher publishes. Default 10 s, at most
	// MaxDuration.
	Duration time.Duration
	// Subjects is the number of subjects published to, round-robin:
	// SubjectPrefix.S0 … SubjectPrefix.S<n-1>. Default 20.
	Subjects int
	// SubjectPrefix prefixes the subjects. Default "ticks.bench" (so the
	// hub's default policy for them is keep-latest).
	SubjectPrefix string
	// Payload is the size of each message's JSON payload in bytes: a
	// price tick padded to size. Default 120; MinPayload to MaxPayload.
	Payload int
	// Patterns are the subscriptions: client i subscribes to
	// Patterns[i % len(Patterns)]. Each must match at least one published
	// subject. Default: client i subscribes to the single subject
	// number i % Subjects (see PatternAll for the other usual choice).
	Patterns []string

	// Encoding is the StreamHub clients' wire encoding. Default JSON.
	// nats-ws clients speak the NATS protocol and ignore it.
	Encoding protocol.Encoding
	// Policy and MaxRate are the StreamHub subscribe options. Default: the
	// hub's default policy for the subject, no rate limit. nats-ws has no
	// equivalent and ignores them.
	Policy  protocol.Policy
	MaxRate float64

	// APIKey, if set, is sent to a StreamHub as "Authorization: Bearer";
	// without it the hub must run with --insecure-no-auth. It is a secret:
	// it is never logged nor reported.
	APIKey string

	// HubPID is the broker's process id, for its CPU time. 0 means not
	// measured. The PID of this process means the broker runs in-process:
	// its CPU then includes the load tool's (Result.BrokerInProcess).
	HubPID int

	// SetupTimeout bounds connecting and subscribing every client.
	// Default 20 s.
	SetupTimeout time.Duration
	// WarmupTimeout bounds the warm-up: publishing marker messages until
	// every client has received one on each of its subjects. Default 10 s.
	WarmupTimeout time.Duration
	// DrainTimeout bounds the wait, after the last publish, for the
	// deliveries still in flight. The wait also ends after one second
	// without progress. Default 5 s.
	DrainTimeout time.Duration

	// Logger receives a line per phase, never per message. Nil discards.
	Logger *slog.Logger
}

// PatternAll returns the pattern that matches every subject of a run with
// this prefix ("" means DefaultSubject): every client then receives every
// message.
func PatternAll(prefix string) string {
	if prefix == "" {
		prefix = DefaultSubject
	}
	return prefix + ".>"
}

func (c Config) withDefaults() Config {
	if c.Clients == 0 {
		c.Clients = 200
	}
	if c.Rate == 0 {
		c.Rate = 2000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Subjects == 0 {
		c.Subjects = 20
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubject
	}
	if c.Payload == 0 {
		c.Payload = 120
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 20 * time.Second
	}
	if c.WarmupTimeout <= 0 {
		c.WarmupTimeout = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("loadgen: invalid config")

// Validate reports the first problem with c (after defaults), wrapping
// ErrConfig, or ErrNotLoopback for a target that is not on this machine.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Target != TargetStreamHub && c.Target != TargetNATSWS {
		return bad("target %v", c.Target)
	}
	if err := CheckLoopback(c.WSURL); err != nil {
		return err
	}
	if err := CheckLoopback(c.NATSURL); err != nil {
		return err
	}
	switch {
	case c.Clients < 1 || c.Clients > MaxClients:
		return bad("clients %d not in 1..%d", c.Clients, MaxClients)
	case math.IsNaN(c.Rate) || c.Rate <= 0 || c.Rate > MaxRate:
		return bad("rate %v not in (0, %d]", c.Rate, MaxRate)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return bad("duration %v not in (0, %v]", c.Duration, MaxDuration)
	case c.Subjects < 1 || c.Subjects > MaxSubjects:
		return bad("subjects %d not in 1..%d", c.Subjects, MaxSubjects)
	case c.Payload < MinPayload || c.Payload > MaxPayload:
		return bad("payload %d bytes not in %d..%d", c.Payload, MinPayload, MaxPayload)
	case c.Encoding >= protocol.NumEncodings:
		return bad("encoding %v", c.Encoding)
	case math.IsNaN(c.MaxRate) || math.IsInf(c.MaxRate, 0) || c.MaxRate < 0:
		return bad("max rate %v", c.MaxRate)
	}
	if err := subject.Validate(c.SubjectPrefix + ".S0"); err != nil {
		return bad("subject prefix %q: %v", c.SubjectPrefix, err)
	}
	subjects := c.subjectNames()
	for _, p := range c.Patterns {
		if err := subject.ValidatePattern(p); err != nil {
			return bad("pattern %q: %v", p, err)
		}
		if len(matching(p, subjects)) == 0 {
			return bad("pattern %q matches none of the published subjects %s.S0..S%d", p, c.SubjectPrefix, c.Subjects-1)
		}
	}
	return nil
}

func (c Config) subjectNames() []string {
	out := make([]string, c.Subjects)
	for i := range out {
		out[i] = fmt.Sprintf("%s.S%d", c.SubjectPrefix, i)
	}
	return out
}

// patternOf returns client i's pattern.
func (c Config) patternOf(i int, subjects []string) string {
	if len(c.Patterns) == 0 {
		return subjects[i%len(subjects)]
	}
	return c.Patterns[i%len(c.Patterns)]
}

// matching returns the indexes of the subjects pattern matches.
func matching(pattern string, subjects []string) []int {
	var out []int
	for i, s := range subjects {
		if subject.Match(pattern, s) {
			out = append(out, i)
		}
	}
	return out
}
