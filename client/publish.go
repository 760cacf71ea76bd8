package client

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Publisher publishes over the hub's HTTP API (POST /v1/publish,
// docs/http.md) with an API key that has publish scope. Messages of the
// stored families (chain.…, jobs.…) are acknowledged by the hub only once
// its store has them, with their stream sequence; ticks are handed to NATS.
// A Publisher is safe for concurrent use and holds no connection of its
// own beyond its HTTP client's idle ones.
type Publisher struct {
	endpoint string // http(s)://host/v1/publish
	key      string // a secret: never logged
	secret   string // the key's signing secret, or ""
	http     *http.Client
}

// PublisherOptions configure a Publisher; nil or zero fields mean the
// documented defaults.
type PublisherOptions struct {
	// SigningSecret is the key's publish signing secret
	// (`hub keys signing-secret ID`); when set, every request is signed
	// (Streamhub-Signature). Default none: requests are not signed, which
	// keys created with --signed-publish refuse.
	SigningSecret string
	// HTTPClient sends the requests. Default http.DefaultClient.
	HTTPClient *http.Client
}

// NewPublisher returns a Publisher for the hub at hubURL: its HTTP or
// WebSocket address ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/ws";
// the path is ignored).
func NewPublisher(hubURL, key string, opts *PublisherOptions) (*Publisher, error) {
	u, err := url.Parse(hubURL)
	if err != nil {
		return nil, fmt.Errorf("client: hub URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("client: hub URL %q: want http, https, ws or wss", hubURL)
	}
	p := &Publisher{endpoint: u.Scheme + "://" + u.Host + "/v1/publish", key: key, http: http.DefaultClient}
	if opts != nil {
		p.secret = opts.SigningSecret
		if opts.HTTPClient != nil {
			p.http = opts.HTTPClient
		}
	}
	return p, nil
}

// PublishMessage is one message to publish.
type PublishMessage struct {
	// Subject is a literal subject within the key's publish scope.
	Subject string
	// Data is the payload: a JSON object, as json.RawMessage or any value
	// encoding/json encodes as an object.
	Data any
	// Critical messages are never conflated or dropped for subscribers.
	Critical bool
	// IdempotencyKey makes a retry of this message store nothing new
	// within the stream's duplicate window (2 minutes by default).
	// Default: the batch's key with "/<line>" appended, when it has one.
	IdempotencyKey string
}

// PublishResult is the hub's answer for one message.
type PublishResult struct {
	Subject string
	// Stream and Seq locate a stored family's message in its JetStream
	// stream; empty and 0 for ticks, which are not stored.
	Stream string
	Seq    uint64
	// Duplicate: the store already had this idempotency key; Seq is the
	// original message's and nothing new was stored.
	Duplicate bool
	// Err is the message's refusal (an *Error with the hub's code), or nil.
	Err error
}

// Publish publishes one message and returns once the hub has it (for
// stored families: once the store has acknowledged it). idempotencyKey
// ("" for none) makes a retry store nothing twice. Errors are *Error
// values with the hub's code, wrapped with the HTTP status; 401 and 403
// also wrap ErrUnauthorized.
func (p *Publisher) Publish(ctx context.Context, m PublishMessage) (PublishResult, error) {
	data, err := json.Marshal(m.Data)
	if err != nil {
		return PublishResult{}, fmt.Errorf("client: publish %s: data: %w", m.Subject, err)
	}
	body, err := json.Marshal(wireMessage{Subject: m.Subject, Data: data, Critical: m.Critical})
	if err != nil {
		return PublishResult{}, fmt.Errorf("client: publish %s: %w", m.Subject, err)
	}
	var resp wirePublishResponse
	if err := p.post(ctx, "application/json", m.IdempotencyKey, body, &resp); err != nil {
		return PublishResult{}, err
	}
	if len(resp.Results) != 1 {
		return PublishResult{}, fmt.Errorf("client: publish %s: the hub answered %d results for one message", m.Subject, len(resp.Results))
	}
	return resp.Results[0].result(), nil
}

// PublishBatch publishes msgs as one NDJSON request, one message a line,
// and returns one result per message in order: each line is published or
// refused on its own (PublishResult.Err). idempotencyKey ("" for none)
// gives message i the id "<key>/<i+1>" unless it has its own, so a retry
// of the whole batch stores none of it twice. The error is for the
// request as a whole (credentials, rate, size, signature).
func (p *Publisher) PublishBatch(ctx context.Context, msgs []PublishMessage, idempotencyKey string) ([]PublishResult, error) {
	var body bytes.Buffer
	for i, m := range msgs {
		data, err := json.Marshal(m.Data)
		if err != nil {
			return nil, fmt.Errorf("client: publish batch: message %d data: %w", i, err)
		}
		line, err := json.Marshal(wireMessage{Subject: m.Subject, Data: data, Critical: m.Critical, IdempotencyKey: m.IdempotencyKey})
		if err != nil {
			return nil, fmt.Errorf("client: publish batch: message %d: %w", i, err)
		}
		body.Write(line)
		body.WriteByte('\n')
	}
	var resp wirePublishResponse
	if err := p.post(ctx, "application/x-ndjson", idempotencyKey, body.Bytes(), &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(msgs) {
		return nil, fmt.Errorf("client: publish batch: the hub answered %d results for %d messages", len(resp.Results), len(msgs))
	}
	out := make([]PublishResult, len(msgs))
	for i, r := range resp.Results {
		out[i] = r.result()
	}
	return out, nil
}

func (p *Publisher) post(ctx context.Context, contentType, idem string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	if p.secret != "" {
		req.Header.Set("Streamhub-Signature", sign(p.secret, time.Now(), http.MethodPost, req.URL.Path, body))
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("client: publish: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(raw, &struct {
			Code    *ErrorCode `json:"code"`
			Message *string    `json:"message"`
		}{&e.Code, &e.Message}) != nil || e.Code == "" {
			e = Error{Code: CodeInternal, Message: strings.TrimSpace(string(raw))}
		}
		return &statusError{status: resp.StatusCode, err: &e}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("client: publish: the hub's answer: %w", err)
	}
	return nil
}

// sign returns the Streamhub-Signature of a request (docs/http.md):
// HMAC-SHA256 over "<t>\n<METHOD>\n<path>\n<body>".
func sign(secret string, t time.Time, method, path string, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + method + "\n" + path + "\n"))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

type wireMessage struct {
	Subject        string          `json:"subject"`
	Data           json.RawMessage `json:"data"`
	Critical       bool            `json:"critical,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

type wirePublishResponse struct {
	Results []wireResult `json:"results"`
}

type wireResult struct {
	Status    int       `json:"status"`
	Subject   string    `json:"subject"`
	Stream    string    `json:"stream"`
	Seq       uint64    `json:"seq"`
	Duplicate bool      `json:"duplicate"`
	Code      ErrorCode `json:"code"`
	Message   string    `json:"message"`
}

func (w wireResult) result() PublishResult {
	r := PublishResult{Subject: w.Subject, Stream: w.Stream, Seq: w.Seq, Duplicate: w.Duplicate}
	if w.Status != http.StatusOK {
		r.Err = &statusError{status: w.Status, err: &Error{Code: w.Code, Message: w.Message}}
	}
	return r
}

// Publish publishes one message over the HTTP API of the hub this client
// dialed, with its key (see Publisher.Publish).
func (c *Client) Publish(ctx context.Context, m PublishMessage) (PublishResult, error) {
	p, err := c.publisher()
	if err != nil {
		return PublishResult{}, err
	}
	return p.Publish(ctx, m)
}

// PublishBatch publishes msgs over the HTTP API of the hub this client
// dialed, with its key (see Publisher.PublishBatch).
func (c *Client) PublishBatch(ctx context.Context, msgs []PublishMessage, idempotencyKey string) ([]PublishResult, error) {
	p, err := c.publisher()
	if err != nil {
		return nil, err
	}
	return p.PublishBatch(ctx, msgs, idempotencyKey)
}

// publisher publishes through the hub of the current connection (the
// first URL while there is none).
func (c *Client) publisher() (*Publisher, error) {
	hub := c.urls[0]
	c.mu.Lock()
	if c.sess != nil {
		hub = c.sess.url
	}
	c.mu.Unlock()
	return NewPublisher(hub, c.key, &PublisherOptions{HTTPClient: c.httpClient, SigningSecret: c.opts.SigningSecret})
}
