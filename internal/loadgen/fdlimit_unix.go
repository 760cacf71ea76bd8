//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises this process's soft limit on open files
// (RLIMIT_NOFILE) to its hard limit, so that the load tool, and the
// brokers it starts (children inherit the raised limit), can hold need
// descriptors each. It returns the soft limit now in force, and an error,
// saying in one line what to do, if that is below need. Call it before
// starting children; it is not safe against concurrent Setrlimit calls.
func RaiseFileLimit(need int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("loadgen: read the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		// Setting it explicitly also makes children inherit it: Go
		// otherwise restores the soft limit it found at start-up for
		// them.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if need > 0 && lim.Cur < uint64(need) {
		return lim.Cur, fmt.Errorf("loadgen: %d open files needed, the limit is %d (hard %d): raise the hard limit (ulimit -Hn %d as root, or LimitNOFILE= in a unit file)",
			need, lim.Cur, lim.Max, need)
	}
	return lim.Cur, nil
}
