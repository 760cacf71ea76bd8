package evm

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamhub/streamhub/internal/subject"
)

// Defaults of [Config]; each field's doc names its own.
const (
	DefaultConfirmations  = 12
	DefaultWindow         = 128
	DefaultStaleAfter     = 60 * time.Second
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultCallTimeout    = 10 * time.Second
	DefaultTokenCacheSize = 1024
	DefaultPublishTries   = 5
)

// Config configures an [Ingestor]. Every zero field means the default its
// comment states.
type Config struct {
	// URL is the node's JSON-RPC WebSocket endpoint, ws:// or wss://.
	// Required.
	URL string
	// Network is the subject token: messages go to chain.<Network>.…
	// Required; a valid subject token.
	Network string
	// Confirmations is the depth at which a block counts as confirmed: a
	// block has 1 confirmation when it is the head, 2 when one block is on
	// top of it, and so on. Default 12.
	Confirmations int
	// Tokens restricts transfers to these token contracts. Default: every
	// ERC-20 Transfer log.
	Tokens []common.Address
	// Window is how many recent blocks are remembered: the deepest reorg
	// that is followed block by block, the longest gap that is backfilled,
	// and how long a block waits to be marked finalized. Default 128.
	Window int
	// StaleAfter is how long the node may send no new head before the
	// ingestor reconnects. Default 60s.
	StaleAfter time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential wait between
	// reconnects. Defaults 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// CallTimeout bounds each JSON-RPC call and each JetStream publish.
	// Default 10s.
	CallTimeout time.Duration
	// TokenCacheSize bounds the cache of token metadata looked up with
	// eth_call. Default 1024.
	TokenCacheSize int
	// PublishTries is how often one message is tried before it is counted
	// as an error and skipped. Default 5.
	PublishTries int
	// Logger receives connection and error records, never one per message.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock for the ts of reorg notices. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Confirmations, DefaultConfirmations)
	def(&c.Window, DefaultWindow)
	def(&c.TokenCacheSize, DefaultTokenCacheSize)
	def(&c.PublishTries, DefaultPublishTries)
	defDur(&c.StaleAfter, DefaultStaleAfter)
	defDur(&c.BackoffMin, DefaultBackoffMin)
	defDur(&c.BackoffMax, DefaultBackoffMax)
	defDur(&c.CallTimeout, DefaultCallTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first invalid field of c (after defaults), or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("evm: no node URL")
	case err != nil:
		return fmt.Errorf("evm: node URL: %w", err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("evm: node URL %q: want ws:// or wss://", c.URL)
	case c.Network == "":
		return errors.New("evm: no network name")
	case c.Confirmations < 1 || c.Window < 2 || c.TokenCacheSize < 1 || c.PublishTries < 1:
		return fmt.Errorf("evm: confirmations %d, window %d, token cache %d, publish tries %d: each must be positive (window at least 2)",
			c.Confirmations, c.Window, c.TokenCacheSize, c.PublishTries)
	case c.StaleAfter < 0 || c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin || c.CallTimeout < 0:
		return errors.New("evm: negative duration, or backoff max below min")
	}
	if err := subject.Validate("chain." + c.Network + ".block"); err != nil || strings.Contains(c.Network, ".") {
		return fmt.Errorf("evm: network %q is not a subject token: %w", c.Network, err)
	}
	return nil
}
