// Package coinbase is the Coinbase Advanced Trade WebSocket connector
// (wss://advanced-trade-ws.coinbase.com): the ticker, level2 and heartbeats
// channels of the public market data feed, without authentication.
//
// Every message of a connection carries sequence_num, one counter across
// all channels of the connection; a jump is a lost message. Since a lost
// level2 update leaves the order book wrong, a gap is counted, every
// subject of the connection gets a new epoch, and the connector reconnects
// for fresh snapshots.
//
// Ticks: bid and ask are the best levels of the level2 book (of the ticker
// message until the book's snapshot has arrived), last is the ticker's
// price. The ticker does not carry the last trade's size, so size is left
// out. Sh-Ts is the message's timestamp; venue_seq its sequence_num. A tick
// is published on every ticker message and on every level2 message that
// moves the best bid or ask, once bid, ask and last are all known.
//
// Symbols are Coinbase product ids as they are (BTC-USD). Coinbase answers
// for -USDC products with the data of the -USD product, so subscribe to
// BTC-USD, not BTC-USDC.
package coinbase

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
)

// Name is the venue's subject token.
const Name = "coinbase"

// DefaultURL is the production endpoint.
const DefaultURL = "wss://advanced-trade-ws.coinbase.com"

// Adapter speaks Coinbase's protocol; see [venue.Adapter]. Use [New].
type Adapter struct {
	products map[string]venue.Symbol // product id → symbol
	state    map[venue.Symbol]*product
	lastSeq  int64 // last sequence_num on this connection; -1 before the first
}

// product is one product's state on the current connection.
type product struct {
	book     *venue.Book
	booked   bool   // the level2 snapshot arrived
	bid, ask string // from the ticker, until booked
	last     string
}

// New returns an Adapter.
func New() *Adapter { return &Adapter{lastSeq: -1} }

// Name implements venue.Adapter.
func (a *Adapter) Name() string { return Name }

// Defaults implements venue.Adapter: heartbeats come every second, so 5 s
// of silence is stale; Coinbase allows 8 unauthenticated messages per
// second per IP, of which the connector uses at most 4 (bursts of 3, the
// three subscribe messages). A level2 snapshot holds the whole book of a
// product in one frame, several MiB for the deepest books: frames of up to
// 64 MiB are accepted.
func (a *Adapter) Defaults() venue.Defaults {
	return venue.Defaults{URL: DefaultURL, HeartbeatWindow: 5 * time.Second, SendRate: 4, SendBurst: 3, ReadLimit: 64 << 20}
}

// URL implements venue.Adapter.
func (a *Adapter) URL(base string, _ []venue.Symbol) (string, error) { return base, nil }

type subscribe struct {
	Type       string   `json:"type"`
	ProductIDs []string `json:"product_ids,omitempty"`
	Channel    string   `json:"channel"`
}

// Subscribe implements venue.Adapter: heartbeats first (they keep the other
// subscriptions open), then ticker and level2 for every product.
func (a *Adapter) Subscribe(syms []venue.Symbol) ([][]byte, error) {
	a.products = make(map[string]venue.Symbol, len(syms))
	ids := make([]string, len(syms))
	for i, s := range syms {
		ids[i] = s.String()
		a.products[ids[i]] = s
	}
	var out [][]byte
	for _, m := range []subscribe{
		{Type: "subscribe", Channel: "heartbeats"},
		{Type: "subscribe", Channel: "ticker", ProductIDs: ids},
		{Type: "subscribe", Channel: "level2", ProductIDs: ids},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Reset implements venue.Adapter.
func (a *Adapter) Reset() {
	a.lastSeq = -1
	a.state = make(map[venue.Symbol]*product, len(a.products))
}

// message is every frame Coinbase sends: a channel envelope, or an error.
type message struct {
	Type        string          `json:"type"` // "error" on errors
	Message     string          `json:"message"`
	Reason      string          `json:"reason"`
	Channel     string          `json:"channel"`
	Timestamp   string          `json:"timestamp"`
	SequenceNum *int64          `json:"sequence_num"`
	Events      json.RawMessage `json:"events"`
}

type tickerEvent struct {
	Type    string `json:"type"`
	Tickers []struct {
		ProductID string `json:"product_id"`
		Price     string `json:"price"`
		BestBid   string `json:"best_bid"`
		BestAsk   string `json:"best_ask"`
	} `json:"tickers"`
}

type l2Event struct {
	Type      string `json:"type"`
	ProductID string `json:"product_id"`
	Updates   []struct {
		Side        string `json:"side"`
		PriceLevel  string `json:"price_level"`
		NewQuantity string `json:"new_quantity"`
	} `json:"updates"`
}

// Handle implements venue.Adapter.
func (a *Adapter) Handle(frame []byte, _ time.Time, out venue.Out) error {
	var m message
	if err := json.Unmarshal(frame, &m); err != nil {
		return venue.Malformed("%v", err)
	}
	if m.Type == "error" {
		msg := m.Message
		if m.Reason != "" {
			msg += ": " + m.Reason
		}
		return &venue.RefusedError{Venue: Name, Message: msg}
	}
	if m.Channel == "" || m.SequenceNum == nil || *m.SequenceNum < 0 {
		return venue.Malformed("no channel or sequence_num")
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return venue.Malformed("timestamp %q", m.Timestamp)
	}
	seq := *m.SequenceNum
	if a.lastSeq >= 0 && seq != a.lastSeq+1 {
		prev := a.lastSeq
		a.lastSeq = seq
		if seq > prev {
			out.Gap()
			return fmt.Errorf("%w: coinbase sequence_num jumped from %d to %d", venue.ErrResync, prev, seq)
		}
		return venue.Malformed("sequence_num %d after %d", seq, prev)
	}
	a.lastSeq = seq
	useq := uint64(seq)
	switch m.Channel {
	case "ticker":
		return a.ticker(m.Events, ts.UnixMilli(), useq, out)
	case "l2_data":
		return a.level2(m.Events, ts.UnixMilli(), useq, out)
	}
	return nil // subscriptions, heartbeats and channels we did not ask for
}

// get returns the state of a subscribed product, nil for another one.
func (a *Adapter) get(id string) (venue.Symbol, *product) {
	sym, ok := a.products[id]
	if !ok {
		return sym, nil
	}
	p := a.state[sym]
	if p == nil {
		p = &product{book: venue.NewBook()}
		a.state[sym] = p
	}
	return sym, p
}

func (a *Adapter) ticker(raw json.RawMessage, ts int64, seq uint64, out venue.Out) error {
	var evs []tickerEvent
	if err := json.Unmarshal(raw, &evs); err != nil {
		return venue.Malformed("ticker events: %v", err)
	}
	for _, ev := range evs {
		for _, t := range ev.Tickers {
			sym, p := a.get(t.ProductID)
			if p == nil {
				continue
			}
			_, ok1 := venue.Decimal(t.Price)
			_, ok2 := venue.Decimal(t.BestBid)
			_, ok3 := venue.Decimal(t.BestAsk)
			if !ok1 || !ok2 || !ok3 {
				return venue.Malformed("ticker of %s: price %q bid %q ask %q", t.ProductID, t.Price, t.BestBid, t.BestAsk)
			}
			p.last, p.bid, p.ask = t.Price, t.BestBid, t.BestAsk
			a.emit(sym, p, ts, seq, out)
		}
	}
	return nil
}

func (a *Adapter) level2(raw json.RawMessage, ts int64, seq uint64, out venue.Out) error {
	var evs []l2Event
	if err := json.Unmarshal(raw, &evs); err != nil {
		return venue.Malformed("l2_data events: %v", err)
	}
	for _, ev := range evs {
		sym, p := a.get(ev.ProductID)
		if p == nil {
			continue
		}
		if ev.Type == "snapshot" {
			p.book, p.booked = venue.NewBook(), true
		}
		moved := false
		for _, u := range ev.Updates {
			var bid bool
			switch u.Side {
			case "bid":
				bid = true
			case "offer", "ask":
			default:
				return venue.Malformed("l2 side %q", u.Side)
			}
			changed, err := p.book.Set(bid, u.PriceLevel, u.NewQuantity)
			if err != nil {
				return err
			}
			moved = moved || changed
		}
		if moved && p.booked {
			a.emit(sym, p, ts, seq, out)
		}
	}
	return nil
}

// emit publishes the product's tick if bid, ask and last are known.
func (a *Adapter) emit(sym venue.Symbol, p *product, ts int64, seq uint64, out venue.Out) {
	bid, ask := p.bid, p.ask
	if p.booked {
		bid, ask = p.book.Best()
	}
	if bid == "" || ask == "" || p.last == "" {
		return
	}
	out.Tick(sym, &upstream.Tick{Bid: bid, Ask: ask, Last: p.last, TS: ts, VenueSeq: &seq})
}

var _ venue.Adapter = (*Adapter)(nil)
