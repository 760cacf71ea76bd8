package loadgen

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child if this process
// dies without stopping it (a crash, SIGKILL), so no broker is left
// running. (The signal is tied to the thread that started the child; Go
// does not end threads it did not lock, so in practice to the process.)
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
