package main

import (
	"github.com/streamhub/streamhub/internal/upstream/venue"
	"github.com/streamhub/streamhub/internal/upstream/venue/coinbase"
)

var coinbaseSource = exchangeSource(exchangeSpec{
	name:    coinbase.Name,
	about:   "Coinbase Advanced Trade WebSocket: ticker, level2 book and heartbeats → ticks.coinbase.<BASE-QUOTE>",
	symbols: "BTC-USD,ETH-USD",
	details: `Subscribes to the ticker, level2 and heartbeats channels of Coinbase's
public market data feed (no API key) and publishes a tick on
ticks.coinbase.<SYMBOL> on every ticker message and every change of the best
bid or ask. Symbols are Coinbase product ids (BTC-USD). A jump of
sequence_num is a lost message: it is counted, the connector reconnects for
fresh book snapshots, and the subjects' next ticks open a new Sh-Epoch.`,
	adapter: func() venue.Adapter { return coinbase.New() },
})
