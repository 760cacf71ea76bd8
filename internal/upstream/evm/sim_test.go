package evm

import (
	"context"
	"crypto/ecdsa"
	_ "embed"
	"encoding/hex"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	gethnode "github.com/ethereum/go-ethereum/node"
)

// testTokenBin is the creation code of testdata/TestToken.sol (TST, 6
// decimals; constructor(uint256 supply) mints to the deployer).
//
//go:embed testdata/TestToken.bin
var testTokenBin string

// simChainID is the simulated backend's chain ID.
var simChainID = big.NewInt(1337)

// simNode is go-ethereum's simulated chain, served on a loopback JSON-RPC
// WebSocket endpoint, with funded accounts and a deployed TestToken.
type simNode struct {
	*simulated.Backend
	t      *testing.T
	wsURL  string
	keys   []*ecdsa.PrivateKey
	addrs  []common.Address
	token  common.Address
	nonces map[common.Address]uint64
}

// startSim starts the simulated node with n funded accounts (n >= 2), its
// WebSocket endpoint on a free loopback port, deploys TestToken from
// account 0 in block 1, and closes the node when the test ends.
func startSim(t *testing.T, n int) *simNode {
	t.Helper()
	s := &simNode{t: t, nonces: map[common.Address]uint64{}}
	alloc := types.GenesisAlloc{}
	for range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		s.keys, s.addrs = append(s.keys, k), append(s.addrs, a)
		alloc[a] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	}
	port := freePort(t)
	s.Backend = simulated.NewBackend(alloc, func(nc *gethnode.Config, _ *ethconfig.Config) {
		nc.WSHost, nc.WSPort = "127.0.0.1", port
		nc.WSModules, nc.WSOrigins = []string{"eth", "net", "web3"}, []string{"*"}
	})
	t.Cleanup(func() { _ = s.Close() })
	s.wsURL = "ws://127.0.0.1:" + strconv.Itoa(port)
	code, err := hex.DecodeString(strings.TrimSpace(testTokenBin))
	if err != nil {
		t.Fatal(err)
	}
	supply := common.LeftPadBytes(big.NewInt(1_000_000_000_000).Bytes(), 32) // 1,000,000.000000 TST
	s.token = crypto.CreateAddress(s.addrs[0], 0)
	s.send(0, nil, append(code, supply...))
	s.Commit()
	if c, err := s.Client().CodeAt(context.Background(), s.token, nil); err != nil || len(c) == 0 {
		t.Fatalf("TestToken not deployed: %d bytes, %v", len(c), err)
	}
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// send submits a transaction from account i (to nil: a deployment).
func (s *simNode) send(i int, to *common.Address, data []byte) *types.Transaction {
	s.t.Helper()
	from := s.addrs[i]
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

// transfer sends value base units of TST from account i to account j.
func (s *simNode) transfer(i, j int, value int64) *types.Transaction {
	s.t.Helper()
	data := append([]byte{0xa9, 0x05, 0x9c, 0xbb}, common.LeftPadBytes(s.addrs[j].Bytes(), 32)...)
	data = append(data, common.LeftPadBytes(big.NewInt(value).Bytes(), 32)...)
	return s.send(i, &s.token, data)
}

// resetNonces rereads the accounts' nonces from the canonical chain (after
// a fork).
func (s *simNode) resetNonces() {
	for _, a := range s.addrs {
		n, err := s.Client().PendingNonceAt(context.Background(), a)
		if err != nil {
			s.t.Fatal(err)
		}
		s.nonces[a] = n
	}
}

// proxy forwards loopback TCP connections to target and can cut them all,
// and refuse new ones, to stand for a lost network path to the node.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool // refusing: new connections are closed at once
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.cut(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) url() string { return "ws://" + p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// cut closes every open connection; refuse says whether new ones are
// refused from now on (false: accepted again).
func (p *proxy) cut(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = refuse
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func bigU(n uint64) *big.Int { return new(big.Int).SetUint64(n) }
