// Package binance is the Binance spot connector: combined streams
// (wss://stream.binance.com:9443/stream) of <symbol>@bookTicker and
// <symbol>@trade, subscribed with SUBSCRIBE requests.
//
// Limits honoured: Binance accepts at most 5 messages per second from a
// client (requests and pongs alike); the connector sends its requests at
// 4/s with x/time/rate, leaving room for the pongs that coder/websocket
// answers each of Binance's pings with (every 20 s, payload copied, as the
// docs require). A connection lives at most 24 h: the connector reconnects
// by itself after 23h50m, and at once on a serverShutdown event. Pings
// count as liveness; with no frame and no ping for 60 s the feed is stale.
//
// Symbols: the hub's BASE-QUOTE maps to Binance's concatenation, so
// BTC-USDT is btcusdt. USDT (and FDUSD, USDC…) are quote assets of their
// own, never merged with USD: ask for BTC-USDT and the subject is
// ticks.binance.BTC-USDT. Binance's own symbols are mapped back through the
// configured list, so an unlisted symbol is never guessed at.
//
// Ticks: bid and ask from bookTicker, last and size from trade; a tick is
// published on each of them once both are known. Sh-Ts is the trade's
// event time; bookTicker carries no time on spot, so its ticks use the
// time the frame was received. venue_seq is the book update id (u) of
// bookTicker frames and the trade id (t) of trade frames. Trade ids are
// consecutive per symbol: a jump is a lost trade, counted as a gap, and the
// symbol's next tick opens a new epoch. (Update ids of bookTicker skip by
// design and are not checked.)
package binance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
)

// Name is the venue's subject token.
const Name = "binance"

// DefaultURL is the production endpoint of combined streams.
const DefaultURL = "wss://stream.binance.com:9443/stream"

// maxParams bounds the streams of one SUBSCRIBE request.
const maxParams = 200

// Adapter speaks Binance's protocol; see [venue.Adapter]. Use [New].
type Adapter struct {
	symbols map[string]venue.Symbol // BTCUSDT → BTC-USDT
	state   map[venue.Symbol]*symState
	pending map[int64]bool // ids of unanswered SUBSCRIBE requests
	nreq    int
}

type symState struct {
	bid, ask, last, size string
	lastTrade            int64 // -1 before the first trade of the connection
}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

// Name implements venue.Adapter.
func (a *Adapter) Name() string { return Name }

// Defaults implements venue.Adapter.
func (a *Adapter) Defaults() venue.Defaults {
	return venue.Defaults{URL: DefaultURL, HeartbeatWindow: 60 * time.Second,
		MaxConnAge: 23*time.Hour + 50*time.Minute, SendRate: 4, SendBurst: 1}
}

// URL implements venue.Adapter: base is used as it is.
func (a *Adapter) URL(base string, _ []venue.Symbol) (string, error) { return base, nil }

// venueSymbol is Binance's name of a symbol: BASE and QUOTE concatenated.
func venueSymbol(s venue.Symbol) string { return s.Base + s.Quote }

// Subscribe implements venue.Adapter: SUBSCRIBE requests of at most 200
// streams each, ids 1, 2, 3 …
func (a *Adapter) Subscribe(syms []venue.Symbol) ([][]byte, error) {
	a.symbols = make(map[string]venue.Symbol, len(syms))
	var streams []string
	for _, s := range syms {
		vs := venueSymbol(s)
		if other, dup := a.symbols[vs]; dup {
			return nil, fmt.Errorf("%w: %s and %s are both %s on Binance", venue.ErrSymbol, other, s, vs)
		}
		a.symbols[vs] = s
		l := strings.ToLower(vs)
		streams = append(streams, l+"@bookTicker", l+"@trade")
	}
	var out [][]byte
	for i := 0; i < len(streams); i += maxParams {
		b, err := json.Marshal(map[string]any{"method": "SUBSCRIBE", "params": streams[i:min(i+maxParams, len(streams))], "id": len(out) + 1})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	a.nreq = len(out)
	return out, nil
}

// Reset implements venue.Adapter.
func (a *Adapter) Reset() {
	a.state = make(map[venue.Symbol]*symState, len(a.symbols))
	a.pending = make(map[int64]bool, a.nreq)
	for i := 1; i <= a.nreq; i++ {
		a.pending[int64(i)] = true
	}
}

// frame is every message Binance sends on a combined stream: an event
// wrapped as {"stream","data"}, a response {"result","id"}, or an error
// {"error":{"code","msg"},"id"} (older servers: {"code","msg","id"}).
type frame struct {
	Stream string          `json:"stream"`
	Data   json.RawMessage `json:"data"`
	ID     *int64          `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *apiError       `json:"error"`
	apiError
	Event string `json:"e"` // a bare event, such as serverShutdown
	// EventTime is here so that "E" does not land in Event: encoding/json
	// matches keys case-insensitively when no field has the exact name.
	EventTime int64 `json:"E"`
}

type apiError struct {
	Code *int   `json:"code"`
	Msg  string `json:"msg"`
}

// event is a bookTicker or trade event. Every key Binance sends has a field
// of its exact name, because encoding/json would otherwise match "B" (bid
// quantity) to b (bid price), "T" (trade time) to t (trade id) and so on.
type event struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	// bookTicker
	UpdateID *int64 `json:"u"`
	Bid      string `json:"b"`
	BidQty   string `json:"B"`
	Ask      string `json:"a"`
	AskQty   string `json:"A"`
	// trade
	TradeID *int64 `json:"t"`
	Price   string `json:"p"`
	Qty     string `json:"q"`
	Time    int64  `json:"T"`
	Maker   bool   `json:"m"`
	Ignore  bool   `json:"M"`
}

// Handle implements venue.Adapter.
func (a *Adapter) Handle(raw []byte, recv time.Time, out venue.Out) error {
	var f frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return venue.Malformed("%v", err)
	}
	switch {
	case f.Error != nil:
		return &venue.RefusedError{Venue: Name, Message: errText(f.Error)}
	case f.apiError.Code != nil:
		return &venue.RefusedError{Venue: Name, Message: errText(&f.apiError)}
	case f.ID != nil:
		if !a.pending[*f.ID] {
			return venue.Malformed("answer to unknown request id %d", *f.ID)
		}
		delete(a.pending, *f.ID)
		return nil
	case f.Event == "serverShutdown":
		return fmt.Errorf("%w: binance announced a server shutdown", venue.ErrResync)
	case f.Stream == "" || len(f.Data) == 0:
		return venue.Malformed("neither an event nor a response")
	}
	var ev event
	if err := json.Unmarshal(f.Data, &ev); err != nil {
		return venue.Malformed("%s: %v", f.Stream, err)
	}
	if ev.Event == "serverShutdown" {
		return fmt.Errorf("%w: binance announced a server shutdown", venue.ErrResync)
	}
	sym, ok := a.symbols[ev.Symbol]
	if !ok {
		return venue.Malformed("%s: symbol %q was not subscribed", f.Stream, ev.Symbol)
	}
	st := a.state[sym]
	if st == nil {
		st = &symState{lastTrade: -1}
		a.state[sym] = st
	}
	var ts int64
	var seq uint64
	switch {
	case strings.HasSuffix(f.Stream, "@bookTicker"):
		_, ok1 := venue.Decimal(ev.Bid)
		_, ok2 := venue.Decimal(ev.Ask)
		if !ok1 || !ok2 || ev.UpdateID == nil || *ev.UpdateID < 0 {
			return venue.Malformed("%s: bid %q ask %q", f.Stream, ev.Bid, ev.Ask)
		}
		st.bid, st.ask = ev.Bid, ev.Ask
		ts, seq = recv.UnixMilli(), uint64(*ev.UpdateID)
	case strings.HasSuffix(f.Stream, "@trade"):
		_, ok1 := venue.Decimal(ev.Price)
		_, ok2 := venue.Decimal(ev.Qty)
		if !ok1 || !ok2 || ev.TradeID == nil || *ev.TradeID < 0 || ev.EventTime <= 0 {
			return venue.Malformed("%s: price %q qty %q", f.Stream, ev.Price, ev.Qty)
		}
		id := *ev.TradeID
		if st.lastTrade >= 0 && id > st.lastTrade+1 {
			out.Gap(sym)
		}
		if id > st.lastTrade {
			st.lastTrade = id
		}
		st.last, st.size = ev.Price, ev.Qty
		ts, seq = ev.EventTime, uint64(id)
	default:
		return venue.Malformed("stream %q was not subscribed", f.Stream)
	}
	if st.bid != "" && st.last != "" {
		out.Tick(sym, &upstream.Tick{Bid: st.bid, Ask: st.ask, Last: st.last, Size: st.size, TS: ts, VenueSeq: &seq})
	}
	return nil
}

func errText(e *apiError) string {
	code := 0
	if e.Code != nil {
		code = *e.Code
	}
	return fmt.Sprintf("code %d: %s", code, e.Msg)
}

var _ venue.Adapter = (*Adapter)(nil)
