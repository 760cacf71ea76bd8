package upstream

// The payload types below are the JSON objects of docs/streams.md. Decimal
// quantities are strings, times are Unix ms.

// Tick is a top-of-book update on ticks.<venue>.<symbol>. The demo feeds
// fill every field but VenueSeq; the real venue connectors leave Size empty
// (and so out of the JSON) where the venue does not report the last trade's
// size, and set VenueSeq to the venue's own sequence number of the message
// the tick came from, where the venue has one (docs/streams.md).
type Tick struct {
	Venue    string  `json:"venue"`
	Symbol   string  `json:"symbol"`
	Bid      string  `json:"bid"`
	Ask      string  `json:"ask"`
	Last     string  `json:"last"`
	Size     string  `json:"size,omitempty"`
	TS       int64   `json:"ts"`
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
}

// Transfer is a large token transfer on chain.<network>.transfer, included
// in the block at BlockHeight.
type Transfer struct {
	Network     string `json:"network"`
	TxHash      string `json:"tx_hash"`
	BlockHeight uint64 `json:"block_height"`
	From        string `json:"from"`
	To          string `json:"to"`
	Asset       string `json:"asset"`
	Amount      string `json:"amount"`
	USDValue    string `json:"usd_value"`
	TS          int64  `json:"ts"`
}

// Reorg announces on chain.<network>.reorg that the Depth blocks above
// ForkHeight were replaced: OldHead was the head before, NewHead is the head
// of the new branch, whose blocks follow the notice.
type Reorg struct {
	Network    string `json:"network"`
	Depth      int    `json:"depth"`
	ForkHeight uint64 `json:"fork_height"`
	OldHead    string `json:"old_head"`
	NewHead    string `json:"new_head"`
	TS         int64  `json:"ts"`
}

// Job states and stages as they appear in JobProgress.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"

	StageQueued      = "queued"
	StageLoading     = "loading"
	StageTokenizing  = "tokenizing"
	StageInference   = "inference"
	StagePostprocess = "postprocess"
	StageDone        = "done"
	StageFailed      = "failed"
)

// JobProgress is one progress event on jobs.<tenant>.<job-id>.
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
