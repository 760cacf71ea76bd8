package fanout

import "context"

// Sink is what the core needs from a client connection.
//
// WriteBatch and Close are called only by the client's writer (see
// [Client.Start]: one goroutine at a time), never concurrently with each
// other.
type Sink interface {
	// WriteBatch writes every item of b to the client, ideally as one
	// transport message. It must return when ctx is done (the writer sets a
	// deadline per batch and cancels ctx when the client is closed). An error
	// ends the client with ReasonWriteFailed. The sink must not keep b.
	WriteBatch(ctx context.Context, b *Batch) error
	// Close closes the connection, telling the client why. It is called
	// exactly once, after the last WriteBatch.
	Close(reason CloseReason) error
}

// ProgressReporter may be implemented by a Sink that can tell how many bytes
// it has handed to the network so far. When the client is closed, its write
// in flight then keeps its grace for as long as those bytes keep moving (up
// to Config.WriteTimeout in all), so that a client still reading, however
// slowly, gets the rest of the write and then the close frame saying why;
// one whose bytes stop moving for Config.CloseGrace is cut off.
//
// Written is called from timer goroutines, concurrently with WriteBatch.
type ProgressReporter interface {
	Written() uint64
}
