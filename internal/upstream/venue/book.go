package venue

import (
	"fmt"
	"slices"
)

// MaxBookLevels bounds each side of a Book, so that a venue cannot grow
// the ingestor's memory without end; real books of the venues' most active
// products have a few tens of thousands of levels.
const MaxBookLevels = 200_000

// Book is a price-level order book that tracks its best bid and ask, for
// venues that send level-2 updates instead of top-of-book. It keeps each
// level's price as the venue wrote it ("67012.10"), so ticks carry the
// venue's tick size. Not safe for concurrent use.
type Book struct {
	bids, asks bookSide
}

// bookSide is one side of a Book. prices holds the canonical prices (see
// [Decimal]) of its levels, best first, so the best is prices[0] and a
// level is found by binary search; raw maps a canonical price to the price
// as the venue wrote it. Both always hold the same set of prices.
type bookSide struct {
	bid    bool
	prices []string
	raw    map[string]string
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{bids: bookSide{bid: true, raw: map[string]string{}}, asks: bookSide{raw: map[string]string{}}}
}

// cmp orders prices best first: descending for bids, ascending for asks.
func (s *bookSide) cmp(a, b string) int {
	if s.bid {
		return CmpDecimal(b, a)
	}
	return CmpDecimal(a, b)
}

func (s *bookSide) best() string {
	if len(s.prices) == 0 {
		return ""
	}
	return s.prices[0]
}

// Set sets the level at price of one side (bid true: bids) to size; a zero
// size removes the level. It reports whether the best price of that side
// changed. It wraps ErrMalformed if price or size is not a decimal, and
// ErrResync if the side would pass MaxBookLevels.
func (b *Book) Set(bid bool, price, size string) (bool, error) {
	p, ok1 := Decimal(price)
	q, ok2 := Decimal(size)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("%w: level %q × %q", ErrMalformed, price, size)
	}
	s := &b.asks
	if bid {
		s = &b.bids
	}
	old := s.best()
	i, found := slices.BinarySearchFunc(s.prices, p, s.cmp)
	switch {
	case IsZero(q) && found:
		s.prices = slices.Delete(s.prices, i, i+1)
		delete(s.raw, p)
	case IsZero(q):
		// removing a level that is not there: nothing changes
	case found:
		s.raw[p] = price
	default:
		if len(s.prices) >= MaxBookLevels {
			return false, fmt.Errorf("%w: more than %d price levels on one side", ErrResync, MaxBookLevels)
		}
		s.prices = slices.Insert(s.prices, i, p)
		s.raw[p] = price
	}
	return s.best() != old, nil
}

// Best returns the best bid and ask prices as the venue wrote them, "" for
// an empty side.
func (b *Book) Best() (bid, ask string) { return b.bids.raw[b.bids.best()], b.asks.raw[b.asks.best()] }

// Levels returns the number of price levels on each side.
func (b *Book) Levels() (bids, asks int) { return len(b.bids.prices), len(b.asks.prices) }
