package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// node is one connection to the node's JSON-RPC endpoint; every call is
// bounded by timeout. Used by the Run goroutine only (the rpc.Client
// itself is safe for concurrent use).
type node struct {
	c       *rpc.Client
	timeout time.Duration
	tokens  []common.Address
}

func (n *node) call(ctx context.Context, result any, method string, args ...any) error {
	cctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := n.c.CallContext(cctx, result, method, args...); err != nil {
		return fmt.Errorf("evm: %s: %w", method, err)
	}
	return nil
}

func (n *node) chainID(ctx context.Context) (uint64, error) {
	var id hexutil.Big
	if err := n.call(ctx, &id, "eth_chainId"); err != nil {
		return 0, err
	}
	if !id.ToInt().IsUint64() {
		return 0, fmt.Errorf("evm: eth_chainId: %s out of range", id.ToInt())
	}
	return id.ToInt().Uint64(), nil
}

// blockByTag returns the block at a tag ("latest", "finalized"); errNotFound
// if the node has none.
func (n *node) blockByTag(ctx context.Context, tag string) (*block, error) {
	var raw json.RawMessage
	if err := n.call(ctx, &raw, "eth_getBlockByNumber", tag, false); err != nil {
		return nil, err
	}
	return decodeBlock(raw)
}

// blockByHash returns the block with hash, checked to be that block.
func (n *node) blockByHash(ctx context.Context, hash common.Hash) (*block, error) {
	var raw json.RawMessage
	if err := n.call(ctx, &raw, "eth_getBlockByHash", hash, false); err != nil {
		return nil, err
	}
	b, err := decodeBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("evm: block %s: %w", hash, err)
	}
	if b.hash != hash {
		return nil, fmt.Errorf("evm: asked for block %s, got %s", hash, b.hash)
	}
	return b, nil
}

// transfers returns the ERC-20 Transfer logs of the block with hash.
func (n *node) transfers(ctx context.Context, hash common.Hash) ([]transferLog, error) {
	filter := map[string]any{"blockHash": hash, "topics": [][]common.Hash{{transferTopic}}}
	if len(n.tokens) > 0 {
		filter["address"] = n.tokens
	}
	var raw json.RawMessage
	if err := n.call(ctx, &raw, "eth_getLogs", filter); err != nil {
		return nil, err
	}
	return decodeLogs(raw, hash)
}

// ethCall calls the contract at to with data on the latest block.
func (n *node) ethCall(ctx context.Context, to common.Address, data []byte) ([]byte, error) {
	var ret hexutil.Bytes
	// Both names of the call data: older nodes read "data", newer "input".
	err := n.call(ctx, &ret, "eth_call", map[string]any{"to": to, "data": hexutil.Bytes(data), "input": hexutil.Bytes(data)}, "latest")
	return ret, err
}

// isTransport reports whether err is a failure to talk to the node (as
// opposed to the node's own JSON-RPC error answer, such as a revert).
func isTransport(err error) bool {
	var re rpc.Error
	return !errors.As(err, &re)
}
