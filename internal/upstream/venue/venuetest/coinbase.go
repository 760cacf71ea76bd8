package venuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// CoinbaseFrames builds frames in the shapes of the Coinbase Advanced Trade
// WebSocket documentation (channel envelope with client_id, timestamp,
// sequence_num and events). Each frame takes the next sequence_num, one
// counter across channels as on a real connection; set Seq to make a gap.
type CoinbaseFrames struct {
	Seq int64 // sequence_num of the next frame
}

func (f *CoinbaseFrames) envelope(channel string, ts time.Time, events any) []byte {
	b, _ := json.Marshal(map[string]any{
		"channel":      channel,
		"client_id":    "",
		"timestamp":    ts.UTC().Format(time.RFC3339Nano),
		"sequence_num": f.Seq,
		"events":       events,
	})
	f.Seq++
	return b
}

// Subscriptions is the acknowledgement of the subscriptions.
func (f *CoinbaseFrames) Subscriptions(ts time.Time, products []string) []byte {
	return f.envelope("subscriptions", ts, []any{map[string]any{"subscriptions": map[string]any{
		"heartbeats": []string{"heartbeats"}, "ticker": products, "level2": products}}})
}

// Heartbeat is one message of the heartbeats channel.
func (f *CoinbaseFrames) Heartbeat(ts time.Time, counter int) []byte {
	return f.envelope("heartbeats", ts, []any{map[string]any{
		"current_time":      ts.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
		"heartbeat_counter": counter}})
}

// Ticker is a ticker update of one product.
func (f *CoinbaseFrames) Ticker(ts time.Time, product, price, bid, ask string) []byte {
	return f.envelope("ticker", ts, []any{map[string]any{"type": "update", "tickers": []any{map[string]any{
		"type": "ticker", "product_id": product, "price": price,
		"volume_24_h": "16038.28770938", "low_24_h": "21835.29", "high_24_h": "23011.18",
		"low_52_w": "15460", "high_52_w": "48240", "price_percent_chg_24_h": "-4.15775596190603",
		"best_bid": bid, "best_bid_quantity": "0.5", "best_ask": ask, "best_ask_quantity": "0.25"}}}})
}

// Level is one price level of a level2 event.
type Level struct{ Side, Price, Qty string }

// L2 is an l2_data message of one product, a snapshot or an update.
func (f *CoinbaseFrames) L2(ts time.Time, snapshot bool, product string, levels ...Level) []byte {
	typ := "update"
	if snapshot {
		typ = "snapshot"
	}
	updates := make([]any, len(levels))
	for i, l := range levels {
		updates[i] = map[string]any{"side": l.Side, "event_time": ts.UTC().Format(time.RFC3339Nano),
			"price_level": l.Price, "new_quantity": l.Qty}
	}
	return f.envelope("l2_data", ts, []any{map[string]any{"type": typ, "product_id": product, "updates": updates}})
}

// CoinbaseError is the error message Coinbase sends for a bad request.
func CoinbaseError(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"type": "error", "message": msg})
	return b
}

// CoinbaseSubscribe is a subscribe request as the client sends it.
type CoinbaseSubscribe struct {
	Type       string   `json:"type"`
	ProductIDs []string `json:"product_ids"`
	Channel    string   `json:"channel"`
}

// ServeCoinbase plays a well-behaved Coinbase on conn until ctx is done or
// the connection fails: it reads the three subscribe requests, acknowledges
// them, sends a level2 snapshot for each product (bid 100.00, ask 100.10)
// and then, every interval, a heartbeat and a ticker per product whose
// price steps by 0.01.
func ServeCoinbase(ctx context.Context, conn *Conn, interval time.Duration) error {
	var products []string
	for range 3 {
		b, err := conn.Read(10 * time.Second)
		if err != nil {
			return err
		}
		var s CoinbaseSubscribe
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s.Channel == "ticker" {
			products = s.ProductIDs
		}
	}
	f := &CoinbaseFrames{}
	if err := conn.Send(f.Subscriptions(time.Now(), products)); err != nil {
		return err
	}
	for _, p := range products {
		if err := conn.Send(f.L2(time.Now(), true, p, Bid("100.00", "1.5"), Ask("100.10", "2"))); err != nil {
			return err
		}
	}
	return every(ctx, interval, func(i int) error {
		now := time.Now()
		if err := conn.Send(f.Heartbeat(now, i)); err != nil {
			return err
		}
		for _, p := range products {
			price := fmt.Sprintf("100.%02d", i%10)
			if err := conn.Send(f.Ticker(now, p, price, "100.00", "100.10")); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bid is a bid level.
func Bid(price, qty string) Level { return Level{Side: "bid", Price: price, Qty: qty} }

// Ask is an ask level, "offer" as Coinbase names the side.
func Ask(price, qty string) Level { return Level{Side: "offer", Price: price, Qty: qty} }
