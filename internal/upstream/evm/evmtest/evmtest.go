// Package evmtest runs go-ethereum's simulated chain for tests: served on
// a loopback JSON-RPC WebSocket endpoint, with funded accounts and a
// deployed ERC-20 (testdata/TestToken.sol). Only tests import it.
package evmtest

import (
	"context"
	"crypto/ecdsa"
	_ "embed"
	"encoding/hex"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"go.uber.org/goleak"
)

// testTokenBin is the creation code of testdata/TestToken.sol (TST, 6
// decimals; constructor(uint256 supply) mints to the deployer).
//
//go:embed testdata/TestToken.bin
var testTokenBin string

// simChainID is the simulated backend's chain ID.
var simChainID = big.NewInt(1337)

// Sim is go-ethereum's simulated chain, served on a loopback JSON-RPC
// WebSocket endpoint, with funded accounts and a deployed TestToken.
type Sim struct {
	*simulated.Backend
	t      testing.TB
	WSURL  string
	keys   []*ecdsa.PrivateKey
	Addrs  []common.Address
	Token  common.Address
	nonces map[common.Address]uint64
}

// Start starts the simulated node with n funded accounts (n >= 2), its
// WebSocket endpoint on a free loopback port, deploys TestToken from
// account 0 in block 1, and closes the node when the test ends.
func Start(t testing.TB, n int) *Sim {
	t.Helper()
	s := &Sim{t: t, nonces: map[common.Address]uint64{}}
	alloc := types.GenesisAlloc{}
	for range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		s.keys, s.Addrs = append(s.keys, k), append(s.Addrs, a)
		alloc[a] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	}
	port := freePort(t)
	s.Backend = simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.WSHost, nc.WSPort = "127.0.0.1", port
		nc.WSModules, nc.WSOrigins = []string{"eth", "net", "web3"}, []string{"*"}
	})
	t.Cleanup(func() { _ = s.Close() })
	s.WSURL = "ws://127.0.0.1:" + strconv.Itoa(port)
	code, err := hex.DecodeString(strings.TrimSpace(testTokenBin))
	if err != nil {
		t.Fatal(err)
	}
	supply := common.LeftPadBytes(big.NewInt(1_000_000_000_000).Bytes(), 32) // 1,000,000.000000 TST
	s.Token = crypto.CreateAddress(s.Addrs[0], 0)
	s.Send(0, nil, append(code, supply...))
	s.Commit()
	if c, err := s.Client().CodeAt(context.Background(), s.Token, nil); err != nil || len(c) == 0 {
		t.Fatalf("TestToken not deployed: %d bytes, %v", len(c), err)
	}
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Send submits a transaction from account i (to nil: a deployment).
func (s *Sim) Send(i int, to *common.Address, data []byte) *types.Transaction {
	s.t.Helper()
	from := s.Addrs[i]
	tx, err := types.SignNewTx(s.keys[i], types.LatestSignerForChainID(simChainID), &types.DynamicFeeTx{
		ChainID: simChainID, Nonce: s.nonces[from], To: to, Gas: 3_000_000, Data: data,
		GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(200e9),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.Client().SendTransaction(context.Background(), tx); err != nil {
		s.t.Fatalf("send from %d: %v", i, err)
	}
	s.nonces[from]++
	return tx
}

// Transfer sends value base units of TST from account i to account j.
func (s *Sim) Transfer(i, j int, value int64) *types.Transaction {
	s.t.Helper()
	data := append([]byte{0xa9, 0x05, 0x9c, 0xbb}, common.LeftPadBytes(s.Addrs[j].Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(big.NewInt(value).Bytes(), 32)...)
	return s.Send(i, &s.Token, data)
}

// ResetNonces rereads the accounts' nonces from the canonical chain (after
// a fork).
func (s *Sim) ResetNonces() {
	for _, a := range s.Addrs {
		n, err := s.Client().PendingNonceAt(context.Background(), a)
		if err != nil {
			s.t.Fatal(err)
		}
		s.nonces[a] = n
	}
}

// HeaderHash returns the hash of the canonical block at height n.
func (s *Sim) HeaderHash(n uint64) common.Hash {
	s.t.Helper()
	h, err := s.Client().HeaderByNumber(context.Background(), new(big.Int).SetUint64(n))
	if err != nil {
		s.t.Fatalf("block %d: %v", n, err)
	}
	return h.Hash()
}

// IgnoreGoroutines are the goleak options for go-ethereum's process-wide
// workers, which a simulated node starts once and never stops; a package
// whose tests run a Sim passes them to goleak.VerifyTestMain.
func IgnoreGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/ethereum/go-ethereum/metrics.(*meterTicker).loop"),
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	}
}
