package evm

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/streamhub/streamhub/client"
)

func TestFormatUnits(t *testing.T) {
	for _, tc := range []struct {
		v    string
		dec  uint8
		want string
	}{
		{"0", 0, "0"}, {"0", 6, "0.000000"}, {"1234", 6, "0.001234"}, {"1000000", 6, "1.000000"},
		{"123456789", 2, "1234567.89"}, {"5", 1, "0.5"},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639935", 18,
			"115792089237316195423570985008687907853269984665640564039457.584007913129639935"},
	} {
		v, _ := new(big.Int).SetString(tc.v, 10)
		if got := formatUnits(v, tc.dec); got != tc.want {
			t.Errorf("formatUnits(%s, %d) = %q, want %q", tc.v, tc.dec, got, tc.want)
		}
	}
	if got := usdOf("12.345678"); got != "12.34" {
		t.Errorf("usdOf = %q", got)
	}
	if got := usdOf("7"); got != "7.00" {
		t.Errorf("usdOf = %q", got)
	}
}

func word(b []byte) []byte { return common.LeftPadBytes(b, 32) }

func TestDecodeSymbolAndDecimals(t *testing.T) {
	abiString := func(s string) []byte {
		out := append(word([]byte{0x20}), word(big.NewInt(int64(len(s))).Bytes())...)
		return append(out, common.RightPadBytes([]byte(s), (len(s)+31)/32*32)...)
	}
	bytes32 := common.RightPadBytes([]byte("MKR"), 32)
	for _, tc := range []struct {
		ret  []byte
		want string
		bad  bool
	}{
		{ret: abiString("USDC"), want: "USDC"},
		{ret: bytes32, want: "MKR"},
		{ret: abiString(""), bad: true},
		{ret: abiString(strings.Repeat("A", 33)), bad: true},
		{ret: abiString("a\x01b"), bad: true},
		{ret: append(word([]byte{0x40}), word(nil)...), bad: true},                                  // offset past the end
		{ret: append(word([]byte{0x20}), word([]byte{0xff, 0xff, 0xff, 0xff, 0xff})...), bad: true}, // length past the end
		{ret: []byte{1, 2, 3}, bad: true},
		{ret: nil, bad: true},
	} {
		got, err := decodeSymbol(tc.ret)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("decodeSymbol(%x) = %q, %v", tc.ret, got, err)
		}
	}
	if d, err := decodeDecimals(word([]byte{6})); err != nil || d != 6 {
		t.Errorf("decodeDecimals(6) = %d, %v", d, err)
	}
	for _, ret := range [][]byte{word([]byte{78}), word([]byte{1, 0}), {6}, nil} {
		if d, err := decodeDecimals(ret); err == nil {
			t.Errorf("decodeDecimals(%x) = %d, want an error", ret, d)
		}
	}
}

func TestDecodeBlockAndLogs(t *testing.T) {
	if _, err := decodeBlock(json.RawMessage(`null`)); !errors.Is(err, errNotFound) {
		t.Errorf("null: %v", err)
	}
	for _, raw := range []string{`{}`, `[]`, `{"number":"0x1"}`, `{"number":"0x1","hash":"` + fakeHash(1) + `","parentHash":"` + fakeHash(1) + `","timestamp":"0x1"}`, `{"number":1}`} {
		if b, err := decodeBlock(json.RawMessage(raw)); err == nil {
			t.Errorf("decodeBlock(%s) = %+v, want an error", raw, b)
		}
	}
	b, err := decodeBlock(json.RawMessage(fakeBlock(5, true)))
	if err != nil || b.number != 5 || b.parent != common.HexToHash(fakeHash(4)) || !b.full {
		t.Errorf("decodeBlock = %+v, %v", b, err)
	}
	if b, _ := decodeBlock(json.RawMessage(fakeBlock(5, false))); b.full {
		t.Error("a newHeads header taken for a full block")
	}

	bh := common.HexToHash(fakeHash(5))
	addr := func(n byte) string {
		return "0x" + strings.Repeat("0", 24) + strings.Repeat("0", 38) + string("0123456789abcdef"[n]) + "0"
	}
	log := func(idx string, topics ...string) string {
		return `{"address":"0x00000000000000000000000000000000000000aa","topics":["` + strings.Join(topics, `","`) + `"],` +
			`"data":"0x` + strings.Repeat("0", 62) + `64","blockNumber":"0x5","transactionHash":"` + fakeHash(9) +
			`","transactionIndex":"0x0","blockHash":"` + bh.Hex() + `","logIndex":"` + idx + `","removed":false}`
	}
	tt := transferTopic.Hex()
	logs := `[` + log("0x0", tt, addr(1), addr(2)) + `,` + log("0x1", tt, addr(1), addr(2), addr(3)) + `,` +
		log("0x2", "0x"+strings.Repeat("1", 64), addr(1), addr(2)) + `,` + log("0x3", tt, "0x"+strings.Repeat("f", 64), addr(2)) + `]`
	got, err := decodeLogs(json.RawMessage(logs), bh)
	if err != nil || len(got) != 1 || got[0].value.Int64() != 100 || got[0].logIndex != 0 || got[0].from != common.HexToAddress("0x10") {
		t.Fatalf("decodeLogs: %+v, %v (want only the ERC-20 Transfer at index 0)", got, err)
	}
	if _, err := decodeLogs(json.RawMessage(`[`+log("0x1", tt, addr(1), addr(2))+`,`+log("0x1", tt, addr(1), addr(2))+`]`), bh); err == nil {
		t.Error("repeated log index accepted")
	}
	if _, err := decodeLogs(json.RawMessage(`{}`), bh); err == nil {
		t.Error("an object accepted as logs")
	}
}

// The token cache: the bundled list needs no call; an unknown token is
// called once and cached; a contract that answers badly is cached as
// unknown; a transport failure is returned and not cached; the cache stays
// within its bound.
func TestTokenCache(t *testing.T) {
	c := newTokenCache(2)
	c.setChain(1)
	calls := 0
	answers := map[common.Address][2][]byte{}
	call := func(_ context.Context, to common.Address, data []byte) ([]byte, error) {
		calls++
		a, ok := answers[to]
		if !ok {
			return nil, errors.New("connection reset")
		}
		if data[0] == selSymbol[0] {
			if a[0] == nil {
				return nil, rpc.Error(revertErr{})
			}
			return a[0], nil
		}
		return a[1], nil
	}
	transport := func(err error) bool { return !errors.As(err, new(revertErr)) }
	usdc := common.HexToAddress("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
	if m, err := c.meta(context.Background(), usdc, call, transport); err != nil || m.symbol != "USDC" || m.decimals != 6 || !m.usdRef || calls != 0 {
		t.Fatalf("USDC: %+v %v after %d calls", m, err, calls)
	}
	tok, rev, gone := common.HexToAddress("0x01"), common.HexToAddress("0x02"), common.HexToAddress("0x03")
	answers[tok] = [2][]byte{common.RightPadBytes([]byte("ABC"), 32), word([]byte{9})}
	answers[rev] = [2][]byte{nil, nil}
	for range 2 {
		if m, err := c.meta(context.Background(), tok, call, transport); err != nil || m.symbol != "ABC" || m.decimals != 9 {
			t.Fatalf("ABC: %+v %v", m, err)
		}
	}
	if calls != 2 {
		t.Fatalf("%d calls for one token asked twice, want 2 (symbol, decimals)", calls)
	}
	if m, err := c.meta(context.Background(), rev, call, transport); err != nil || m != (tokenMeta{}) {
		t.Fatalf("reverting token: %+v %v", m, err)
	}
	if _, err := c.meta(context.Background(), gone, call, transport); err == nil {
		t.Fatal("a transport failure was not returned")
	}
	if len(c.m) > 2 {
		t.Fatalf("cache holds %d tokens, bound 2", len(c.m))
	}
	if _, ok := c.m[gone]; ok {
		t.Fatal("a transport failure was cached")
	}
}

type revertErr struct{}

func (revertErr) Error() string  { return "execution reverted" }
func (revertErr) ErrorCode() int { return 3 }

// The Go client's payload types carry every field the ingestor sends.
func TestClientTypesCarryEveryField(t *testing.T) {
	for _, tc := range []struct {
		sent any
		got  any
	}{
		{&Block{Network: "n", Height: 2, Hash: "h", ParentHash: "p", Time: 3, TxCount: 4, GasUsed: 5, Confirmations: 6, Confirmed: true, Finalized: true}, &client.Block{}},
		{&Transfer{Network: "n", TxHash: "t", BlockHeight: 1, BlockHash: "b", LogIndex: 2, Token: "k", From: "f", To: "o", Asset: "A",
			Decimals: 3, Amount: "1.000", USDValue: "1.00", TS: 4, Confirmations: 5, Confirmed: true, Finalized: true, Removed: true}, &client.Transfer{}},
		{&Reorg{Network: "n", Depth: 1, ForkHeight: 2, OldHead: "o", NewHead: "w", TS: 3, Retracted: []BlockRef{{1, "a"}}, Added: []BlockRef{{2, "b"}}}, &client.Reorg{}},
	} {
		sent, _ := json.Marshal(tc.sent)
		if err := json.Unmarshal(sent, tc.got); err != nil {
			t.Fatal(err)
		}
		back, _ := json.Marshal(tc.got)
		var a, b map[string]any
		_ = json.Unmarshal(sent, &a)
		_ = json.Unmarshal(back, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("sent %s, the client kept %s", sent, back)
		}
	}
}
