package main

import (
	"github.com/streamhub/streamhub/internal/upstream/venue"
	"github.com/streamhub/streamhub/internal/upstream/venue/binance"
)

var binanceSource = exchangeSource(exchangeSpec{
	name:    binance.Name,
	about:   "Binance spot combined streams: bookTicker and trade → ticks.binance.<BASE-QUOTE>",
	symbols: "BTC-USDT,ETH-USDT",
	details: `Subscribes to <symbol>@bookTicker and <symbol>@trade on Binance's combined
streams and publishes a tick on ticks.binance.<SYMBOL> on each. BTC-USDT is
btcusdt on Binance; USDT is never merged with USD. Requests go out at 4/s
(Binance allows 5 messages/s, pongs included); the connection is renewed
after 23h50m, ahead of Binance's 24 h limit, and at once on serverShutdown.
A skipped trade id is a lost trade: counted, and the symbol's next tick opens
a new Sh-Epoch.`,
	adapter: func() venue.Adapter { return binance.New() },
})
