package evm

// The payloads below extend the chain family's schema (docs/streams.md):
// the demo's fields keep their names and meaning, the EVM ingestor adds its
// own. Decimal quantities are strings, times Unix ms.

// Block is published on chain.<network>.block when a block becomes
// canonical, and again when it reaches the confirmation depth and when it is
// finalized.
type Block struct {
	Network    string `json:"network"`
	Height     uint64 `json:"height"`
	Hash       string `json:"hash"`
	ParentHash string `json:"parent_hash"`
	Time       int64  `json:"time"`
	TxCount    int    `json:"tx_count"`
	GasUsed    uint64 `json:"gas_used"`
	// Confirmations is head height − Height + 1 when published.
	Confirmations uint64 `json:"confirmations"`
	// Confirmed: Confirmations reached the configured depth.
	Confirmed bool `json:"confirmed"`
	// Finalized: the node's finalized block is at or above Height.
	Finalized bool `json:"finalized"`
}

// Transfer is an ERC-20 Transfer log on chain.<network>.transfer. It is
// published after its block, with the block's confirmation marks, and once
// more with Removed set when a reorg retracts its block.
type Transfer struct {
	Network     string `json:"network"`
	TxHash      string `json:"tx_hash"`
	BlockHeight uint64 `json:"block_height"`
	BlockHash   string `json:"block_hash"`
	LogIndex    uint   `json:"log_index"`
	Token       string `json:"token"`
	From        string `json:"from"`
	To          string `json:"to"`
	// Asset is the token's symbol; "" if the token did not say.
	Asset string `json:"asset"`
	// Decimals of the token; Amount carries exactly this many decimals.
	Decimals uint8  `json:"decimals"`
	Amount   string `json:"amount"`
	// USDValue is set only for tokens with a bundled reference price
	// (stablecoins at 1.00).
	USDValue      string `json:"usd_value,omitempty"`
	TS            int64  `json:"ts"`
	Confirmations uint64 `json:"confirmations"`
	Confirmed     bool   `json:"confirmed"`
	Finalized     bool   `json:"finalized"`
	Removed       bool   `json:"removed"`
}

// BlockRef names a block in a [Reorg].
type BlockRef struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
}

// Reorg is the critical notice on chain.<network>.reorg: the Retracted
// blocks (newest first) left the canonical chain, the Added blocks (oldest
// first) joined it on the block at ForkHeight. The demo's fields keep their
// meaning; NewHead is the last added block (or the fork block, when the
// node only rewound).
type Reorg struct {
	Network    string     `json:"network"`
	Depth      int        `json:"depth"`
	ForkHeight uint64     `json:"fork_height"`
	OldHead    string     `json:"old_head"`
	NewHead    string     `json:"new_head"`
	TS         int64      `json:"ts"`
	Retracted  []BlockRef `json:"retracted"`
	Added      []BlockRef `json:"added"`
}
