package venuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Binance frames in the shapes of the Binance spot WebSocket Streams
// documentation, wrapped as combined streams deliver them.

// The events are written with their keys in the documentation's order
// (b before B, t before T), as Binance sends them: a decoder that confuses
// keys differing only in case fails on them.

// BinanceBookTicker is a <symbol>@bookTicker event (spot: no event time).
func BinanceBookTicker(symbol string, updateID int64, bid, ask string) []byte {
	return combined(strings.ToLower(symbol)+"@bookTicker", fmt.Sprintf(
		`{"u":%d,"s":%q,"b":%q,"B":"31.21000000","a":%q,"A":"40.66000000"}`, updateID, symbol, bid, ask))
}

// BinanceTrade is a <symbol>@trade event.
func BinanceTrade(symbol string, tradeID, eventTime int64, price, qty string) []byte {
	return combined(strings.ToLower(symbol)+"@trade", fmt.Sprintf(
		`{"e":"trade","E":%d,"s":%q,"t":%d,"p":%q,"q":%q,"T":%d,"m":true,"M":true}`,
		eventTime, symbol, tradeID, price, qty, eventTime-1))
}

func combined(stream, data string) []byte {
	return []byte(fmt.Sprintf(`{"stream":%q,"data":%s}`, stream, data))
}

// BinanceResult answers a request with id successfully.
func BinanceResult(id int64) []byte {
	b, _ := json.Marshal(map[string]any{"result": nil, "id": id})
	return b
}

// BinanceError answers a request with id with an error.
func BinanceError(id int64, code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "msg": msg}, "id": id})
	return b
}

// BinanceRequest is a request as the client sends it.
type BinanceRequest struct {
	Method string   `json:"method"`
	Params []string `json:"params"`
	ID     int64    `json:"id"`
}

// ServeBinance plays a well-behaved Binance on conn until ctx is done or
// the connection fails: it answers the first SUBSCRIBE request and then,
// every interval, sends a bookTicker and a trade for every symbol of it,
// trade ids consecutive.
func ServeBinance(ctx context.Context, conn *Conn, interval time.Duration) error {
	b, err := conn.Read(10 * time.Second)
	if err != nil {
		return err
	}
	var req BinanceRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return err
	}
	if err := conn.Send(BinanceResult(req.ID)); err != nil {
		return err
	}
	var symbols []string
	for _, p := range req.Params {
		if s, ok := strings.CutSuffix(p, "@trade"); ok {
			symbols = append(symbols, strings.ToUpper(s))
		}
	}
	return every(ctx, interval, func(i int) error {
		for _, s := range symbols {
			if err := conn.Send(BinanceBookTicker(s, 1000+int64(i), "100.00", "100.10")); err != nil {
				return err
			}
			if err := conn.Send(BinanceTrade(s, int64(i), time.Now().UnixMilli(), "100.05", "0.5")); err != nil {
				return err
			}
		}
		return nil
	})
}
