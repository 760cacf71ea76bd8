package upstream

import "math"

// symbolProfile describes how one instrument trades. Reference values are
// floats because they are constants of the model; every published price and
// size is an int64 count of the tick (or lot) size, formatted exactly.
type symbolProfile struct {
	base          float64 // reference price, in quote currency
	priceDecimals int     // tick size is 10^-priceDecimals
	sizeDecimals  int     // lot size is 10^-sizeDecimals
	sizeMin       float64 // smallest trade size, in base currency
	sizeMax       float64 // largest trade size, in base currency
	volBp         float64 // std dev of one fair-value step, basis points
	spreadBp      float64 // typical bid-ask spread, basis points (at least one tick)
}

// symbolProfiles are realistic late-2024 levels for the default symbols.
var symbolProfiles = map[string]symbolProfile{
	"BTC-USD":  {base: 67000, priceDecimals: 2, sizeDecimals: 4, sizeMin: 0.0001, sizeMax: 1.5, volBp: 0.6, spreadBp: 0.07},
	"ETH-USD":  {base: 3500, priceDecimals: 2, sizeDecimals: 4, sizeMin: 0.001, sizeMax: 25, volBp: 0.8, spreadBp: 0.15},
	"SOL-USD":  {base: 150, priceDecimals: 2, sizeDecimals: 3, sizeMin: 0.01, sizeMax: 500, volBp: 1.2, spreadBp: 0.7},
	"XRP-USD":  {base: 0.60, priceDecimals: 4, sizeDecimals: 1, sizeMin: 1, sizeMax: 50000, volBp: 1.5, spreadBp: 1.7},
	"ADA-USD":  {base: 0.45, priceDecimals: 4, sizeDecimals: 1, sizeMin: 1, sizeMax: 50000, volBp: 1.5, spreadBp: 2.2},
	"DOGE-USD": {base: 0.15, priceDecimals: 5, sizeDecimals: 0, sizeMin: 10, sizeMax: 200000, volBp: 1.8, spreadBp: 0.7},
	"AVAX-USD": {base: 35, priceDecimals: 2, sizeDecimals: 3, sizeMin: 0.01, sizeMax: 1000, volBp: 1.3, spreadBp: 2.9},
	"LINK-USD": {base: 15, priceDecimals: 3, sizeDecimals: 2, sizeMin: 0.1, sizeMax: 2000, volBp: 1.3, spreadBp: 0.7},
	"DOT-USD":  {base: 7, priceDecimals: 3, sizeDecimals: 2, sizeMin: 0.1, sizeMax: 5000, volBp: 1.3, spreadBp: 1.4},
	"LTC-USD":  {base: 80, priceDecimals: 2, sizeDecimals: 3, sizeMin: 0.01, sizeMax: 200, volBp: 1.1, spreadBp: 1.3},
}

// genericProfile is used for symbols not in symbolProfiles.
var genericProfile = symbolProfile{base: 100, priceDecimals: 2, sizeDecimals: 3, sizeMin: 0.01, sizeMax: 100, volBp: 1, spreadBp: 1}

// profileFor returns the profile of symbol, or the generic one.
func profileFor(symbol string) symbolProfile {
	if p, ok := symbolProfiles[symbol]; ok {
		return p
	}
	return genericProfile
}

// venueOffsetsBp are the persistent premiums of known venues over the fair
// price, in basis points, so the same symbol quotes slightly differently.
var venueOffsetsBp = map[string]float64{
	"coinbase": 0.4,
	"binance":  -0.6,
}

// venueOffsetBp returns the premium of the venue at index i of the list.
// Unknown venues alternate around the fair price, 0.5 bp further each.
func venueOffsetBp(venue string, i int) float64 {
	if o, ok := venueOffsetsBp[venue]; ok {
		return o
	}
	o := 0.5 * float64(i/2+1)
	if i%2 == 1 {
		o = -o
	}
	return o
}

// symbolState is the fair value of one symbol, shared by its venues. All
// prices are in ticks (units of 10^-priceDecimals).
type symbolState struct {
	prof       symbolProfile
	base       int64   // reference price, ticks; the walk reverts to it
	fair       int64   // current fair price, ticks
	floor      int64   // the fair price never goes below this
	sigma      float64 // std dev of one fair step, ticks
	spread     int64   // minimum spread, ticks (>= 1)
	sizeLo     int64   // lots
	sizeHi     int64   // lots
	reversion  float64 // share of the distance to base recovered per step
	noiseShare float64 // per-venue noise as a share of sigma
}

func newSymbolState(p symbolProfile) *symbolState {
	base := max(1, toUnits(p.base, p.priceDecimals))
	return &symbolState{
		prof:       p,
		base:       base,
		fair:       base,
		floor:      max(1, base/4),
		sigma:      float64(base) * p.volBp / 1e4,
		spread:     max(1, int64(math.Round(float64(base)*p.spreadBp/1e4))),
		sizeLo:     max(1, toUnits(p.sizeMin, p.sizeDecimals)),
		sizeHi:     max(1, toUnits(p.sizeMax, p.sizeDecimals)),
		reversion:  1.0 / 2000,
		noiseShare: 0.3,
	}
}
