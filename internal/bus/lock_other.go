//go:build !unix

package bus

import (
	"errors"
	"fmt"
	"os"
)

// LockFileName is the lock file [LockStoreDir] would create on Unix.
const LockFileName = "streamhub.lock"

// ErrStoreInUse is returned (wrapped) when the data directory is locked.
var ErrStoreInUse = errors.New("bus: store directory in use")

// LockStoreDir creates dir but takes no lock on this platform: the caller
// must make sure no running hub uses dir.
func LockStoreDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bus: store directory: %w", err)
	}
	return func() {}, nil
}
