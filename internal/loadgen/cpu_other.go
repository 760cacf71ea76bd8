//go:build !unix

package loadgen

import "time"

// SelfCPU returns 0: this platform has no getrusage.
func SelfCPU() time.Duration { return 0 }
