package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
)

// SSE tickets let an EventSource, which cannot send headers, open
// GET /v1/sse?ticket=…: a ticket is single-use and lives TicketTTL, so the
// URL that carries it (and ends up in logs and browser history) holds no
// credential worth stealing. Tickets live in a JetStream KV bucket in
// memory, keyed by their SHA-256, so any hub instance redeems a ticket any
// other issued, and a compare-and-delete makes the first redemption the
// only one.
const (
	// TicketTTL is how long an SSE ticket can be redeemed.
	TicketTTL = 30 * time.Second
	// ticketBucket holds the unredeemed tickets; its entries expire
	// after twice the TTL.
	ticketBucket = "streamhub_sse_tickets"
	ticketPrefix = "sht_"
	// ticketBucketBytes bounds the bucket: about 100,000 unredeemed tickets.
	ticketBucketBytes = 32 << 20
)

// ticketRecord is what a ticket stands for: the credentials it was issued
// with, and its own expiry.
type ticketRecord struct {
	KeyID        string   `json:"key"`
	Scope        []string `json:"scope"`
	Expires      int64    `json:"exp,omitempty"` // the credentials' expiry, Unix ms; 0 never
	ExpireReason uint8    `json:"reason"`
	TicketExp    int64    `json:"ticket_exp"` // Unix ms
}

// tickets issues and redeems SSE tickets. It is safe for concurrent use.
type tickets struct{ kv jetstream.KeyValue }

func openTickets(ctx context.Context, js jetstream.JetStream, replicas int) (*tickets, error) {
	var kv jetstream.KeyValue
	// A cluster starting with the hub may not answer JetStream at once.
	err := bus.Retry(ctx, bus.RetryPolicy{Within: 30 * time.Second}, func(ctx context.Context) error {
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   ticketBucket,
			History:  1,
			TTL:      2 * TicketTTL,
			Storage:  jetstream.MemoryStorage,
			Replicas: max(replicas, 1), // --stream-replicas: a ticket survives the loss of a node
			// Bounded: past it, issuing answers 503 until tickets expire,
			// rather than a caller minting tickets growing NATS's memory.
			MaxBytes: ticketBucketBytes,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("server: ticket bucket: %w", err)
	}
	return &tickets{kv: kv}, nil
}

func ticketKey(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(sum[:])
}

// issue stores a ticket for id and returns it with its expiry.
func (t *tickets) issue(ctx context.Context, id *gateway.Identity, now time.Time) (string, time.Time, error) {
	var secret [32]byte
	_, _ = rand.Read(secret[:]) // crypto/rand.Read never fails
	ticket := ticketPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	exp := now.Add(TicketTTL)
	rec := ticketRecord{KeyID: id.KeyID, Scope: id.Subscribe, ExpireReason: uint8(id.ExpireReason), TicketExp: exp.UnixMilli()}
	if !id.Expires.IsZero() {
		rec.Expires = id.Expires.UnixMilli()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("server: ticket: %w", err)
	}
	if _, err := t.kv.Create(ctx, ticketKey(ticket), b); err != nil {
		return "", time.Time{}, fmt.Errorf("server: store ticket: %w", err)
	}
	return ticket, exp, nil
}

// errTicket is the answer to every ticket that cannot be redeemed: unknown,
// used, expired or malformed. They are told apart in no answer, so a
// ticket cannot be probed.
var errTicket = gateway.NewAuthError(http.StatusUnauthorized, fanout.ReasonAuthFailed,
	"invalid, used or expired ticket: get a new one from POST /v1/sse/tickets")

// redeem consumes ticket: the first call gets its record, any later one
// errTicket.
func (t *tickets) redeem(ctx context.Context, ticket string, now time.Time) (*ticketRecord, error) {
	if !strings.HasPrefix(ticket, ticketPrefix) || len(ticket) > 64 {
		return nil, errTicket
	}
	key := ticketKey(ticket)
	e, err := t.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errTicket
	}
	if err != nil {
		return nil, gateway.NewAuthError(http.StatusServiceUnavailable, fanout.ReasonInternal, "ticket store unavailable; retry")
	}
	if err := t.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return nil, errTicket // redeemed concurrently: only one use wins
	}
	var rec ticketRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil || now.UnixMilli() > rec.TicketExp {
		return nil, errTicket
	}
	return &rec, nil
}

// FromTicket redeems an SSE ticket and takes a connection slot of its key.
func (a *authenticator) FromTicket(r *http.Request, ticket string) (*gateway.Identity, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	now := time.Now()
	rec, err := a.tickets.redeem(ctx, ticket, now)
	if err != nil {
		return nil, err
	}
	key, ok := a.store.Get(rec.KeyID)
	if !ok || !key.Active(now) {
		return nil, authError(auth.ErrUnknown)
	}
	var exp time.Time
	if rec.Expires != 0 {
		exp = time.UnixMilli(rec.Expires)
	}
	id := identity(key.ID, rec.Scope, exp, fanout.CloseReason(rec.ExpireReason), key.EffectiveLimits())
	if err := a.acquireFor(r, id); err != nil {
		return nil, err
	}
	return id, nil
}

// bearerIdentity authenticates an Authorization: Bearer header holding an
// API key or a browser token, without taking a connection slot.
func (a *authenticator) bearerIdentity(r *http.Request) (*gateway.Identity, error) {
	cred, ok := auth.BearerCredential(r)
	if !ok {
		return nil, gateway.NewAuthError(http.StatusUnauthorized, fanout.ReasonAuthFailed, "send Authorization: Bearer <key or browser token>")
	}
	if _, err := auth.ParseKey(cred); err != nil {
		return a.VerifyToken(r, cred)
	}
	rec, err := a.key(r)
	if err != nil {
		return nil, err
	}
	return identity(rec.ID, rec.Subscribe, rec.Expires, fanout.ReasonKeyExpired, rec.EffectiveLimits()), nil
}

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresAt int64  `json:"expires_at"` // Unix ms
}

// handleSSETicket issues a single-use SSE ticket for the request's API key
// or browser token (POST /v1/sse/tickets).
func (s *Server) handleSSETicket(w http.ResponseWriter, r *http.Request) {
	id, err := s.auth.bearerIdentity(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	ticket, exp, err := s.auth.tickets.issue(r.Context(), id, time.Now())
	if err != nil {
		s.log.Warn("SSE ticket", "err", err)
		writeAPIError(w, gateway.NewAuthError(http.StatusServiceUnavailable, fanout.ReasonInternal, "ticket store unavailable; retry"))
		return
	}
	writeJSON(w, http.StatusOK, ticketResponse{Ticket: ticket, ExpiresAt: exp.UnixMilli()})
}
