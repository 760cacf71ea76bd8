package evm

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
)

// tokenMeta is what a transfer shows of its token.
type tokenMeta struct {
	symbol   string
	decimals uint8
	// usdRef: the token is a stablecoin valued at 1.00 USD.
	usdRef bool
}

// bundledTokens are well-known tokens by chain ID, so the common ones need
// no eth_call.
var bundledTokens = map[uint64]map[common.Address]tokenMeta{
	1: { // Ethereum mainnet
		common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"): {symbol: "USDC", decimals: 6, usdRef: true},
		common.HexToAddress("0xdAC17F958D2ee523a2206206994597C13D831ec7"): {symbol: "USDT", decimals: 6, usdRef: true},
		common.HexToAddress("0x6B175474E89094C44Da98b954EedeAC495271d0F"): {symbol: "DAI", decimals: 18, usdRef: true},
		common.HexToAddress("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"): {symbol: "WETH", decimals: 18},
		common.HexToAddress("0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599"): {symbol: "WBTC", decimals: 8},
	},
}

// Selectors of the ERC-20 metadata calls.
var (
	selSymbol   = []byte{0x95, 0xd8, 0x9b, 0x41} // symbol()
	selDecimals = []byte{0x31, 0x3c, 0xe5, 0x67} // decimals()
)

// tokenCache resolves token metadata: the bundled list of the chain first,
// then eth_call symbol() and decimals(), once per token, kept in a map of
// at most max entries (one arbitrary entry is evicted when it is full). A
// token that does not answer is cached as symbol "" with 0 decimals, so its
// amounts are raw base units. Used by the Run goroutine only.
type tokenCache struct {
	chainID uint64
	max     int
	m       map[common.Address]tokenMeta
	// lookups counts eth_call lookups (for tests and stats).
	lookups int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[common.Address]tokenMeta)}
}

// setChain selects the bundled list; a new chain empties the cache.
func (c *tokenCache) setChain(id uint64) {
	if id != c.chainID {
		c.chainID = id
		clear(c.m)
	}
}

// meta returns token's metadata, calling the node through call on a miss.
// A call that fails for transport reasons (ctx, connection) returns the
// error and caches nothing; a contract that answers badly is cached as
// unknown.
func (c *tokenCache) meta(ctx context.Context, token common.Address, call func(ctx context.Context, to common.Address, data []byte) ([]byte, error), transport func(error) bool) (tokenMeta, error) {
	if m, ok := bundledTokens[c.chainID][token]; ok {
		return m, nil
	}
	if m, ok := c.m[token]; ok {
		return m, nil
	}
	c.lookups++
	var m tokenMeta
	ret, err := call(ctx, token, selSymbol)
	if err == nil {
		m.symbol, err = decodeSymbol(ret)
	}
	if err != nil && transport(err) {
		return tokenMeta{}, err
	}
	if err == nil {
		ret, err = call(ctx, token, selDecimals)
		if err == nil {
			m.decimals, err = decodeDecimals(ret)
		}
		if err != nil && transport(err) {
			return tokenMeta{}, err
		}
		if err != nil {
			m = tokenMeta{}
		}
	}
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[token] = m
	return m, nil
}
