package venue

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSymbol is wrapped by every symbol that cannot be normalised.
var ErrSymbol = errors.New("venue: bad symbol")

// assetAliases maps a venue's own code of an asset to the common one. Only
// true aliases are here: XBT and XDG are Kraken's (ISO-4217-style) names of
// bitcoin and dogecoin. Stablecoins are distinct assets and are NOT aliases
// of USD: BTC-USDT and BTC-USD are different instruments and never merged.
var assetAliases = map[string]string{
	"XBT": "BTC",
	"XDG": "DOGE",
}

// maxAssetLen bounds an asset code; the longest real ones are about 10.
const maxAssetLen = 20

// NormalizeAsset returns the common code of an asset: upper case, venue
// aliases replaced (XBT → BTC, XDG → DOGE). A code must be 1 to 20
// characters of A–Z and 0–9.
func NormalizeAsset(code string) (string, error) {
	c := strings.ToUpper(code)
	if c == "" || len(c) > maxAssetLen {
		return "", fmt.Errorf("%w: asset %q", ErrSymbol, code)
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return "", fmt.Errorf("%w: asset %q", ErrSymbol, code)
		}
	}
	if a, ok := assetAliases[c]; ok {
		return a, nil
	}
	return c, nil
}

// Symbol is an instrument in the hub's form: base and quote asset in their
// common codes. Its String is BASE-QUOTE, the third token of a tick subject.
type Symbol struct {
	Base, Quote string
}

// String returns BASE-QUOTE.
func (s Symbol) String() string { return s.Base + "-" + s.Quote }

// NewSymbol normalises a venue's base and quote asset codes.
func NewSymbol(base, quote string) (Symbol, error) {
	b, err := NormalizeAsset(base)
	if err != nil {
		return Symbol{}, err
	}
	q, err := NormalizeAsset(quote)
	if err != nil {
		return Symbol{}, err
	}
	return Symbol{Base: b, Quote: q}, nil
}

// ParseSymbol parses a symbol given as BASE-QUOTE or BASE/QUOTE (any case)
// and normalises its assets, so "xbt/usd" gives BTC-USD.
func ParseSymbol(s string) (Symbol, error) {
	sep := strings.IndexAny(s, "-/")
	if sep < 0 || strings.Count(s, "-")+strings.Count(s, "/") != 1 {
		return Symbol{}, fmt.Errorf("%w: %q: want BASE-QUOTE, e.g. BTC-USD", ErrSymbol, s)
	}
	return NewSymbol(s[:sep], s[sep+1:])
}

// ParseSymbols parses a list of symbols (see [ParseSymbol]) and rejects an
// empty list and duplicates.
func ParseSymbols(list []string) ([]Symbol, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: no symbols", ErrSymbol)
	}
	seen := make(map[Symbol]bool, len(list))
	out := make([]Symbol, 0, len(list))
	for _, s := range list {
		sym, err := ParseSymbol(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if seen[sym] {
			return nil, fmt.Errorf("%w: %s given twice", ErrSymbol, sym)
		}
		seen[sym] = true
		out = append(out, sym)
	}
	return out, nil
}
