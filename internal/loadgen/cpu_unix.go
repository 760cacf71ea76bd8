//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

// SelfCPU returns the CPU time (user + system) this process has used, to
// the microsecond (getrusage).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
