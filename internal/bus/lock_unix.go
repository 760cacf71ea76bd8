//go:build unix

package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFileName is the lock file [LockStoreDir] creates in a data directory.
const LockFileName = "streamhub.lock"

// ErrStoreInUse is returned (wrapped) when another process, or another
// holder in this process, has the data directory locked.
var ErrStoreInUse = errors.New("bus: store directory in use")

// LockStoreDir takes an exclusive, non-blocking advisory lock (flock) on
// dir/streamhub.lock, creating dir and the file if needed. nats-server does
// not lock its JetStream store directory itself, so every process that
// starts an embedded server on dir (`hub serve` as well as `hub keys`) must
// hold this lock for as long as the server runs. A held lock fails at once
// with an error wrapping ErrStoreInUse. The lock is released by unlock,
// or by the kernel when the process exits. Safe for concurrent use; each
// successful call must be paired with one unlock.
func LockStoreDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bus: store directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bus: lock store directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked", ErrStoreInUse, dir)
		}
		return nil, fmt.Errorf("bus: lock store directory: %w", err)
	}
	return func() { _ = f.Close() }, nil // closing the descriptor releases the flock
}
