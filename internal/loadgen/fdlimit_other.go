//go:build !unix

package loadgen

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE; it returns
// 0 and no error.
func RaiseFileLimit(int) (uint64, error) { return 0, nil }
