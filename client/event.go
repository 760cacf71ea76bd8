package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Event is one message delivered on a subscription. Its fields are the
// client's own copy: the application may keep and modify them.
type Event struct {
	// Subject is the literal subject the message was published on.
	Subject string
	// Epoch and Seq are the message's position: Seq increases strictly per
	// subject within an Epoch; a new Epoch means the sequence restarted.
	// Under keep-latest, Seq jumps are conflation, not loss: only gaps
	// (Options.OnGap) announce loss.
	Epoch, Seq uint64
	// TS is the source timestamp, Ingest when the hub received the message
	// and Sent when the hub wrote the frame that carried it
	// (millisecond precision).
	TS, Ingest, Sent time.Time
	// Critical marks must-handle messages (job done/failed, chain reorg):
	// the hub never conflates or drops them.
	Critical bool
	// Snapshot marks a subject's last value delivered first on a subscribe
	// with SubscribeOptions.Snapshot, or after a reconnect that could not
	// resume; live events follow it.
	Snapshot bool
	// Data is the payload as JSON, whatever the wire encoding: msgpack data
	// is converted (integers stay integers, other numbers become float64
	// literals, key order is kept).
	Data json.RawMessage
}

// Decode unmarshals Data into v with encoding/json.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("client: decode data of %s: %w", e.Subject, err)
	}
	return nil
}

// Gap says that every message on Subject in Epoch with From <= seq <= To
// was dropped for this client by the hub: its queue for this client was
// full, under drop-oldest. The application should refetch the range, or
// the subject's latest value, if the stream matters. The client itself
// never drops an event (see the package documentation).
type Gap struct {
	Subject  string
	Epoch    uint64
	From, To uint64
}

// newEvent converts a decoded event frame. The frame's data is converted to
// JSON when it is msgpack; the conversion is done once per event, however
// many subscriptions receive it.
func newEvent(f *protocol.EventFrame, enc protocol.Encoding, sent time.Time) (Event, error) {
	data, err := f.DataJSON(enc)
	if err != nil {
		return Event{}, fmt.Errorf("client: data of %s: %w", f.Subject, err)
	}
	return Event{
		Subject:  f.Subject,
		Epoch:    f.Epoch,
		Seq:      f.Seq,
		TS:       time.UnixMilli(f.TS),
		Ingest:   time.UnixMilli(f.Ingest),
		Sent:     sent,
		Critical: f.Critical,
		Snapshot: f.Snapshot,
		Data:     data,
	}, nil
}

func timeMilli(ms int64) time.Time { return time.UnixMilli(ms) }
