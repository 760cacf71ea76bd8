// Package kraken is the Kraken spot WebSocket v2 connector
// (wss://ws.kraken.com/v2): the ticker channel.
//
// Kraken sends a heartbeat every second while subscribed, so 5 s of silence
// is stale. The ticker carries no sequence number, so Kraken ticks have no
// venue_seq and Kraken gaps cannot be detected beyond the reconnection
// (which opens a new epoch like every venue's). Prices arrive as JSON
// numbers and are published as the decimal strings of their text, never
// through a binary float. Sh-Ts is the ticker's timestamp where Kraken
// sends one, else the time the frame was received. Kraken's ticker has no
// last trade size, so size is left out.
//
// Symbols: v2 names pairs BASE/QUOTE with BTC for bitcoin; BTC-USD is
// subscribed as BTC/USD. Pairs Kraken names with XBT (or XDG) are mapped to
// BTC (DOGE) as well, so ticks.kraken.BTC-USD is bitcoin whatever Kraken
// called it. USDT stays USDT.
package kraken

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
)

// Name is the venue's subject token.
const Name = "kraken"

// DefaultURL is the production endpoint of the public v2 API.
const DefaultURL = "wss://ws.kraken.com/v2"

// Adapter speaks Kraken's v2 protocol; see [venue.Adapter]. Use [New].
type Adapter struct {
	symbols map[venue.Symbol]bool
}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

// Name implements venue.Adapter.
func (a *Adapter) Name() string { return Name }

// Defaults implements venue.Adapter: one subscribe request per connection;
// Kraken limits connection attempts per IP, which the reconnection backoff
// respects.
func (a *Adapter) Defaults() venue.Defaults {
	return venue.Defaults{URL: DefaultURL, HeartbeatWindow: 5 * time.Second, SendRate: 1, SendBurst: 1}
}

// URL implements venue.Adapter.
func (a *Adapter) URL(base string, _ []venue.Symbol) (string, error) { return base, nil }

// Subscribe implements venue.Adapter: one request for every symbol.
func (a *Adapter) Subscribe(syms []venue.Symbol) ([][]byte, error) {
	a.symbols = make(map[venue.Symbol]bool, len(syms))
	pairs := make([]string, len(syms))
	for i, s := range syms {
		a.symbols[s] = true
		pairs[i] = s.Base + "/" + s.Quote
	}
	b, err := json.Marshal(map[string]any{"method": "subscribe", "req_id": 1,
		"params": map[string]any{"channel": "ticker", "symbol": pairs}})
	if err != nil {
		return nil, err
	}
	return [][]byte{b}, nil
}

// Reset implements venue.Adapter; Kraken's adapter keeps no state per
// connection.
func (a *Adapter) Reset() {}

// message is every frame Kraken v2 sends: a channel message (status,
// heartbeat, ticker) or a method response.
type message struct {
	Channel string          `json:"channel"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Method  string          `json:"method"`
	Success *bool           `json:"success"`
	Error   string          `json:"error"`
	Symbol  string          `json:"symbol"`
}

type ticker struct {
	Symbol    string      `json:"symbol"`
	Bid       json.Number `json:"bid"`
	Ask       json.Number `json:"ask"`
	Last      json.Number `json:"last"`
	Timestamp string      `json:"timestamp"`
}

// Handle implements venue.Adapter.
func (a *Adapter) Handle(frame []byte, recv time.Time, out venue.Out) error {
	var m message
	if err := json.Unmarshal(frame, &m); err != nil {
		return venue.Malformed("%v", err)
	}
	if m.Method != "" {
		if m.Success == nil {
			return venue.Malformed("%s response without success", m.Method)
		}
		if !*m.Success && m.Method == "subscribe" {
			msg := m.Error
			if m.Symbol != "" {
				msg += " (" + m.Symbol + ")"
			}
			return &venue.RefusedError{Venue: Name, Message: msg}
		}
		return nil
	}
	switch m.Channel {
	case "heartbeat", "status":
		return nil
	case "ticker":
	case "":
		return venue.Malformed("neither a channel message nor a response")
	default:
		return nil // a channel we did not ask for
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.UseNumber()
	var ts []ticker
	if err := dec.Decode(&ts); err != nil {
		return venue.Malformed("ticker data: %v", err)
	}
	for _, t := range ts {
		sym, err := venue.ParseSymbol(t.Symbol)
		if err != nil || !a.symbols[sym] {
			return venue.Malformed("ticker of symbol %q, not subscribed", t.Symbol)
		}
		bid, ok1 := venue.NumberDecimal(t.Bid.String())
		ask, ok2 := venue.NumberDecimal(t.Ask.String())
		last, ok3 := venue.NumberDecimal(t.Last.String())
		if !ok1 || !ok2 || !ok3 {
			return venue.Malformed("ticker of %s: bid %q ask %q last %q", t.Symbol, t.Bid, t.Ask, t.Last)
		}
		at := recv
		if t.Timestamp != "" {
			if at, err = time.Parse(time.RFC3339Nano, t.Timestamp); err != nil {
				return venue.Malformed("ticker of %s: timestamp %q", t.Symbol, t.Timestamp)
			}
		}
		out.Tick(sym, &upstream.Tick{Bid: bid, Ask: ask, Last: last, TS: at.UnixMilli()})
	}
	return nil
}

var _ venue.Adapter = (*Adapter)(nil)
