package venue

import "fmt"

// Book is a price-level order book that tracks its best bid and ask, for
// venues that send level-2 updates instead of top-of-book. It keeps each
// level's price as the venue wrote it ("67012.10"), so ticks carry the
// venue's tick size. Not safe for concurrent use.
type Book struct {
	// bids and asks map a canonical price (see [Decimal]) to the price as
	// the venue wrote it; bestBid and bestAsk are canonical keys, "" for an
	// empty side.
	bids, asks       map[string]string
	bestBid, bestAsk string
}

// MaxBookLevels bounds each side of a Book, so that a venue cannot grow
// the ingestor's memory without end; real books of the venues' most active
// products have a few tens of thousands of levels.
const MaxBookLevels = 200_000

// NewBook returns an empty book.
func NewBook() *Book { return &Book{bids: map[string]string{}, asks: map[string]string{}} }

// Set sets the level at price of one side (bid true: bids) to size; a zero
// size removes the level. It reports whether the best price of that side
// changed. It wraps ErrMalformed if price or size is not a decimal, and
// ErrResync if the side would pass MaxBookLevels.
func (b *Book) Set(bid bool, price, size string) (bool, error) {
	p, ok1 := Decimal(price)
	s, ok2 := Decimal(size)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("%w: level %q × %q", ErrMalformed, price, size)
	}
	side, best := b.asks, &b.bestAsk
	better := func(x, y string) bool { return CmpDecimal(x, y) < 0 }
	if bid {
		side, best = b.bids, &b.bestBid
		better = func(x, y string) bool { return CmpDecimal(x, y) > 0 }
	}
	old := *best
	if IsZero(s) {
		delete(side, p)
		if p == *best {
			*best = ""
			for q := range side { // the best level went: one scan
				if *best == "" || better(q, *best) {
					*best = q
				}
			}
		}
	} else {
		if _, ok := side[p]; !ok && len(side) >= MaxBookLevels {
			return false, fmt.Errorf("%w: more than %d price levels on one side", ErrResync, MaxBookLevels)
		}
		side[p] = price
		if *best == "" || better(p, *best) {
			*best = p
		}
	}
	return *best != old, nil
}

// Best returns the best bid and ask prices as the venue wrote them, "" for
// an empty side.
func (b *Book) Best() (bid, ask string) { return b.bids[b.bestBid], b.asks[b.bestAsk] }

// Levels returns the number of price levels on each side.
func (b *Book) Levels() (bids, asks int) { return len(b.bids), len(b.asks) }
