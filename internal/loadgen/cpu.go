package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ClockTicks is the unit of the utime and stime fields of /proc/<pid>/stat:
// USER_HZ, which Linux fixes at 100 on every architecture Go supports
// (sysconf(_SC_CLK_TCK) returns it; reading it needs cgo, so it is a
// constant here). A process's CPU time is therefore known to 10 ms, which
// over a run of several CPU-seconds is well under 1 %.
const ClockTicks = 100

// ProcessCPU returns the CPU time (user + system, all threads, including
// threads that have exited) the process pid has used so far, read from
// /proc/<pid>/stat. It fails where /proc is not available.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("loadgen: process CPU: %w", err)
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) may contain spaces and
// parentheses, so fields are counted after its last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("loadgen: process CPU: malformed stat line")
	}
	// After ")": field 3 (state) is the first.
	fields := bytes.Fields(b[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, errors.New("loadgen: process CPU: short stat line")
	}
	u, err1 := strconv.ParseUint(string(fields[utime]), 10, 64)
	s, err2 := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("loadgen: process CPU: %w", err)
	}
	return time.Duration(u+s) * time.Second / ClockTicks, nil
}

// ProcessRSS returns the resident memory of process pid in bytes: VmRSS
// from /proc/<pid>/status. It fails where /proc is not available.
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("loadgen: process memory: %w", err)
	}
	return parseRSS(b)
}

// parseRSS reads the "VmRSS:  1234 kB" line of a /proc/<pid>/status file.
func parseRSS(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("loadgen: process memory: no VmRSS line in kB")
}
