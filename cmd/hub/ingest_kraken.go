package main

import (
	"github.com/streamhub/streamhub/internal/upstream/venue"
	"github.com/streamhub/streamhub/internal/upstream/venue/kraken"
)

var krakenSource = exchangeSource(exchangeSpec{
	name:    kraken.Name,
	about:   "Kraken WebSocket v2 ticker → ticks.kraken.<BASE-QUOTE> (XBT is BTC)",
	symbols: "BTC-USD,ETH-USD",
	details: `Subscribes to the ticker channel of Kraken's WebSocket v2 and publishes a
tick on ticks.kraken.<SYMBOL> on each update. BTC-USD is BTC/USD on Kraken;
pairs Kraken names with XBT are published as BTC. Kraken's ticker has no
sequence number, so loss is signalled only on reconnection (a new Sh-Epoch).`,
	adapter: func() venue.Adapter { return kraken.New() },
})
