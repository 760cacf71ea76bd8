package evm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// transferTopic is keccak256("Transfer(address,address,uint256)").
var transferTopic = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

// errNotFound is a node's null answer for a block it does not have.
var errNotFound = errors.New("evm: block not found")

// block is what the ingestor keeps of a block it published.
type block struct {
	number  uint64
	hash    common.Hash
	parent  common.Hash
	timeSec uint64
	txCount int
	gasUsed uint64
	// transfers are the block's decoded Transfer logs in log-index order;
	// fetched once, when the block is first published.
	transfers []transferLog
	// full: the block came from eth_getBlockBy* (txCount is known), not
	// from newHeads.
	full bool
	// confirmedSent and finalizedSent record the marks published so far.
	confirmedSent, finalizedSent bool
}

// transferLog is one decoded ERC-20 Transfer log.
type transferLog struct {
	token    common.Address
	from, to common.Address
	value    *big.Int
	txHash   common.Hash
	logIndex uint
}

// rpcBlock is the JSON-RPC block object (eth_getBlockBy*, newHeads); only
// the fields the ingestor uses. transactions is absent in newHeads.
type rpcBlock struct {
	Number       *hexutil.Uint64   `json:"number"`
	Hash         *common.Hash      `json:"hash"`
	ParentHash   *common.Hash      `json:"parentHash"`
	Timestamp    *hexutil.Uint64   `json:"timestamp"`
	GasUsed      *hexutil.Uint64   `json:"gasUsed"`
	Transactions []json.RawMessage `json:"transactions"`
}

// decodeBlock decodes a node's block object. A JSON null is errNotFound; a
// missing or malformed required field is an error naming it.
func decodeBlock(raw json.RawMessage) (*block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errNotFound
	}
	var b rpcBlock
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("evm: decode block: %w", err)
	}
	switch {
	case b.Number == nil:
		return nil, errors.New("evm: decode block: no number")
	case b.Hash == nil:
		return nil, errors.New("evm: decode block: no hash")
	case b.ParentHash == nil:
		return nil, errors.New("evm: decode block: no parentHash")
	case b.Timestamp == nil:
		return nil, errors.New("evm: decode block: no timestamp")
	case uint64(*b.Number) > 0 && *b.Hash == *b.ParentHash:
		return nil, errors.New("evm: decode block: its own parent")
	}
	out := &block{number: uint64(*b.Number), hash: *b.Hash, parent: *b.ParentHash,
		timeSec: uint64(*b.Timestamp), txCount: len(b.Transactions), full: b.Transactions != nil}
	if b.GasUsed != nil {
		out.gasUsed = uint64(*b.GasUsed)
	}
	return out, nil
}

// decodeTransfer turns a log into a transfer; ok is false for logs that are
// not ERC-20 Transfers (ERC-721 Transfers have a fourth topic and no data).
func decodeTransfer(l *types.Log) (transferLog, bool) {
	if len(l.Topics) != 3 || l.Topics[0] != transferTopic || len(l.Data) != 32 {
		return transferLog{}, false
	}
	for _, t := range l.Topics[1:3] {
		if t != common.BytesToHash(t[12:]) { // an address is 12 zero bytes and 20
			return transferLog{}, false
		}
	}
	return transferLog{
		token:    l.Address,
		from:     common.BytesToAddress(l.Topics[1][12:]),
		to:       common.BytesToAddress(l.Topics[2][12:]),
		value:    new(big.Int).SetBytes(l.Data),
		txHash:   l.TxHash,
		logIndex: l.Index,
	}, true
}

// decodeLogs decodes an eth_getLogs answer into the block's transfers, in
// log-index order, checking that each log belongs to the block asked for.
func decodeLogs(raw json.RawMessage, blockHash common.Hash) ([]transferLog, error) {
	var logs []types.Log
	if err := json.Unmarshal(raw, &logs); err != nil {
		return nil, fmt.Errorf("evm: decode logs: %w", err)
	}
	out := make([]transferLog, 0, len(logs))
	for i := range logs {
		if logs[i].BlockHash != blockHash {
			return nil, fmt.Errorf("evm: decode logs: log of block %s in the answer for %s", logs[i].BlockHash, blockHash)
		}
		if logs[i].Removed {
			continue
		}
		if t, ok := decodeTransfer(&logs[i]); ok {
			out = append(out, t)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].logIndex <= out[i-1].logIndex {
			return nil, errors.New("evm: decode logs: log indexes not increasing")
		}
	}
	return out, nil
}

// maxSymbolLen bounds a token symbol taken from a contract.
const maxSymbolLen = 32

// maxDecimals is the most decimals a token may claim (10^77 < 2^256).
const maxDecimals = 77

// decodeSymbol decodes the answer of symbol(): an ABI string, or a bytes32
// as some early tokens return. The result is printable UTF-8 of at most
// maxSymbolLen bytes.
func decodeSymbol(ret []byte) (string, error) {
	var s string
	switch {
	case len(ret) == 32:
		s = strings.TrimRight(string(ret), "\x00")
	case len(ret) >= 64:
		off := new(big.Int).SetBytes(ret[:32])
		if !off.IsUint64() || off.Uint64() > uint64(len(ret))-32 {
			return "", errors.New("evm: symbol(): bad offset")
		}
		o := off.Uint64()
		n := new(big.Int).SetBytes(ret[o : o+32])
		if !n.IsUint64() || n.Uint64() > uint64(len(ret))-o-32 {
			return "", errors.New("evm: symbol(): bad length")
		}
		s = string(ret[o+32 : o+32+n.Uint64()])
	default:
		return "", fmt.Errorf("evm: symbol(): %d bytes", len(ret))
	}
	if len(s) == 0 || len(s) > maxSymbolLen || !utf8.ValidString(s) {
		return "", fmt.Errorf("evm: symbol(): %q is not a symbol", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("evm: symbol(): %q is not a symbol", s)
		}
	}
	return s, nil
}

// decodeDecimals decodes the answer of decimals(): one uint word, at most
// maxDecimals.
func decodeDecimals(ret []byte) (uint8, error) {
	if len(ret) != 32 {
		return 0, fmt.Errorf("evm: decimals(): %d bytes", len(ret))
	}
	d := new(big.Int).SetBytes(ret)
	if !d.IsUint64() || d.Uint64() > maxDecimals {
		return 0, fmt.Errorf("evm: decimals(): %s is too many", d)
	}
	return uint8(d.Uint64()), nil
}

// formatUnits writes v / 10^dec with exactly dec decimals.
func formatUnits(v *big.Int, dec uint8) string {
	s := v.String()
	if dec == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= int(dec) {
		s = strings.Repeat("0", int(dec)-len(s)+1) + s
	}
	s = s[:len(s)-int(dec)] + "." + s[len(s)-int(dec):]
	if neg {
		s = "-" + s
	}
	return s
}
