package evm

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// The decoders of what a node sends: never a panic; what they accept is
// within their documented bounds.

func FuzzDecodeBlock(f *testing.F) {
	f.Add(fakeBlock(5, true))
	f.Add(fakeBlock(5, false))
	f.Add(`null`)
	f.Add(`{"number":"0xzz"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		b, err := decodeBlock(json.RawMessage(raw))
		if err == nil && b.number > 0 && b.hash == b.parent {
			t.Fatalf("a block its own parent: %+v", b)
		}
	})
}

func FuzzDecodeLogs(f *testing.F) {
	bh := common.HexToHash(fakeHash(5))
	f.Add(`[{"address":"0x00000000000000000000000000000000000000aa","topics":["` + transferTopic.Hex() + `","` + fakeHash(1) + `","` + fakeHash(2) +
		`"],"data":"0x` + strings.Repeat("0", 62) + `64","blockNumber":"0x5","transactionHash":"` + fakeHash(9) +
		`","transactionIndex":"0x0","blockHash":"` + bh.Hex() + `","logIndex":"0x0","removed":false}]`)
	f.Add(`[]`)
	f.Add(`[{}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		ts, err := decodeLogs(json.RawMessage(raw), bh)
		if err != nil {
			return
		}
		for i, tr := range ts {
			if tr.value.Sign() < 0 || tr.value.BitLen() > 256 || (i > 0 && tr.logIndex <= ts[i-1].logIndex) {
				t.Fatalf("transfer %d: %+v", i, tr)
			}
		}
	})
}

func FuzzDecodeTokenAnswers(f *testing.F) {
	f.Add(common.RightPadBytes([]byte("MKR"), 32))
	f.Add(append(common.LeftPadBytes([]byte{0x20}, 32), append(common.LeftPadBytes([]byte{4}, 32), common.RightPadBytes([]byte("USDC"), 32)...)...))
	f.Add(common.LeftPadBytes([]byte{18}, 32))
	f.Fuzz(func(t *testing.T, ret []byte) {
		if s, err := decodeSymbol(ret); err == nil && (s == "" || len(s) > maxSymbolLen) {
			t.Fatalf("symbol %q", s)
		}
		if d, err := decodeDecimals(ret); err == nil {
			if d > maxDecimals {
				t.Fatalf("decimals %d", d)
			}
			if s := formatUnits(new(big.Int).SetBytes(ret), d); s == "" {
				t.Fatal("empty amount")
			}
		}
	})
}
