package venuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kraken frames in the shapes of the Kraken WebSocket v2 documentation.
// Prices are JSON numbers there; the builders take their text.

// KrakenStatus is the status message Kraken sends on connecting.
func KrakenStatus() []byte {
	return []byte(`{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.10"}],"type":"update"}`)
}

// KrakenHeartbeat is a heartbeat.
func KrakenHeartbeat() []byte { return []byte(`{"channel":"heartbeat"}`) }

// KrakenSubscribed acknowledges the ticker subscription of one symbol.
func KrakenSubscribed(symbol string) []byte {
	return []byte(fmt.Sprintf(`{"method":"subscribe","result":{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":%q},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z","req_id":1}`, symbol))
}

// KrakenRefused refuses the subscription of one symbol.
func KrakenRefused(symbol, msg string) []byte {
	return []byte(fmt.Sprintf(`{"error":%q,"method":"subscribe","success":false,"symbol":%q,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z","req_id":1}`, msg, symbol))
}

// KrakenTicker is a ticker message (typ "snapshot" or "update") of one
// symbol; bid, ask and last are JSON number texts; timestamp may be "".
func KrakenTicker(typ, symbol, bid, ask, last, timestamp string) []byte {
	ts := ""
	if timestamp != "" {
		ts = fmt.Sprintf(`,"timestamp":%q`, timestamp)
	}
	return []byte(fmt.Sprintf(`{"channel":"ticker","type":%q,"data":[{"symbol":%q,"bid":%s,"bid_qty":740.0,"ask":%s,"ask_qty":1361.44813783,"last":%s,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17%s}]}`,
		typ, symbol, bid, ask, last, ts))
}

// KrakenSubscribe is the subscribe request as the client sends it.
type KrakenSubscribe struct {
	Method string `json:"method"`
	Params struct {
		Channel string   `json:"channel"`
		Symbol  []string `json:"symbol"`
	} `json:"params"`
	ReqID int64 `json:"req_id"`
}

// KrakenPairs is the list of pairs of a subscribe request, joined by ",".
func KrakenPairs(s KrakenSubscribe) string { return strings.Join(s.Params.Symbol, ",") }

// ServeKraken plays a well-behaved Kraken v2 on conn until ctx is done or
// the connection fails: status on connect, an acknowledgement per symbol of
// the subscribe request, then every interval a heartbeat and a ticker per
// symbol.
func ServeKraken(ctx context.Context, conn *Conn, interval time.Duration) error {
	if err := conn.Send(KrakenStatus()); err != nil {
		return err
	}
	b, err := conn.Read(10 * time.Second)
	if err != nil {
		return err
	}
	var req KrakenSubscribe
	if err := json.Unmarshal(b, &req); err != nil {
		return err
	}
	for _, s := range req.Params.Symbol {
		if err := conn.Send(KrakenSubscribed(s)); err != nil {
			return err
		}
	}
	return every(ctx, interval, func(int) error {
		if err := conn.Send(KrakenHeartbeat()); err != nil {
			return err
		}
		for _, s := range req.Params.Symbol {
			if err := conn.Send(KrakenTicker("update", s, "100.0", "100.1", "100.05", time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		}
		return nil
	})
}
