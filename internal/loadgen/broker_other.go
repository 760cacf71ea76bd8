//go:build !linux

package loadgen

import "os/exec"

// setParentDeathSignal does nothing here: only Linux has PR_SET_PDEATHSIG.
// Stop and the context still stop the child.
func setParentDeathSignal(*exec.Cmd) {}
