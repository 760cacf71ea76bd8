package client

// The payload types of the stream families (docs/streams.md), for
// Event.Decode. Decimal quantities are strings so that no precision is lost;
// times are Unix milliseconds.

// Tick is a top-of-book update on ticks.<venue>.<symbol>.
type Tick struct {
	Venue  string `json:"venue"`
	Symbol string `json:"symbol"`
	Bid    string `json:"bid"`
	Ask    string `json:"ask"`
	Last   string `json:"last"`
	Size   string `json:"size,omitempty"`
	TS     int64  `json:"ts"`
	// VenueSeq is the venue's own sequence number of the message, when the
	// venue numbers its feed (real exchange ingestors); nil otherwise.
	VenueSeq *uint64 `json:"venue_seq,omitempty"`
}

// Block is a new chain head on chain.<network>.block.
type Block struct {
	Network    string `json:"network"`
	Height     uint64 `json:"height"`
	Hash       string `json:"hash"`
	ParentHash string `json:"parent_hash"`
	Time       int64  `json:"time"`
	TxCount    int    `json:"tx_count"`
	GasUsed    uint64 `json:"gas_used"`
	// The marks below come from the EVM ingestor (hub ingest evm) only:
	// Confirmations is head height − Height + 1; Confirmed says it reached
	// the ingestor's confirmation depth (or is finalized); Finalized says
	// the node's finalized block passed it. A block is sent again when a
	// mark changes.
	Confirmations uint64 `json:"confirmations,omitempty"`
	Confirmed     bool   `json:"confirmed,omitempty"`
	Finalized     bool   `json:"finalized,omitempty"`
}

// Transfer is a large token transfer on chain.<network>.transfer.
type Transfer struct {
	Network     string `json:"network"`
	TxHash      string `json:"tx_hash"`
	BlockHeight uint64 `json:"block_height"`
	From        string `json:"from"`
	To          string `json:"to"`
	Asset       string `json:"asset"`
	Amount      string `json:"amount"`
	// USDValue is always set by the demo; the EVM ingestor sets it only for
	// stablecoins.
	USDValue string `json:"usd_value,omitempty"`
	TS       int64  `json:"ts"`
	// The fields below come from the EVM ingestor only: the including
	// block's hash and the log's index identify the transfer; Token is the
	// contract and Decimals the number of decimals of Amount; the marks are
	// the block's; Removed says a reorg retracted the block, so the
	// transfer did not happen.
	BlockHash     string `json:"block_hash,omitempty"`
	LogIndex      uint   `json:"log_index,omitempty"`
	Token         string `json:"token,omitempty"`
	Decimals      uint8  `json:"decimals,omitempty"`
	Confirmations uint64 `json:"confirmations,omitempty"`
	Confirmed     bool   `json:"confirmed,omitempty"`
	Finalized     bool   `json:"finalized,omitempty"`
	Removed       bool   `json:"removed,omitempty"`
}

// Reorg announces on chain.<network>.reorg that the Depth blocks above
// ForkHeight were replaced (a critical event).
type Reorg struct {
	Network    string `json:"network"`
	Depth      int    `json:"depth"`
	ForkHeight uint64 `json:"fork_height"`
	OldHead    string `json:"old_head"`
	NewHead    string `json:"new_head"`
	TS         int64  `json:"ts"`
	// Retracted (newest first) and Added (oldest first) name the blocks;
	// sent by the EVM ingestor only.
	Retracted []BlockRef `json:"retracted,omitempty"`
	Added     []BlockRef `json:"added,omitempty"`
}

// BlockRef names a block in a Reorg.
type BlockRef struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
}

// JobProgress is one progress event on jobs.<tenant>.<job-id>. State is
// "queued", "running", "done" or "failed"; the last two are critical.
type JobProgress struct {
	Tenant  string  `json:"tenant"`
	JobID   string  `json:"job_id"`
	Model   string  `json:"model"`
	State   string  `json:"state"`
	Stage   string  `json:"stage"`
	Percent float64 `json:"percent"`
	ETAMs   int64   `json:"eta_ms"`
	Error   string  `json:"error,omitempty"`
	TS      int64   `json:"ts"`
}
