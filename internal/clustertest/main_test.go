package clustertest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// bins are built once by TestMain when the cluster tests run.
var bins Bins

// TestMain builds nats-server and the hub once, runs the tests when
// STREAMHUB_CLUSTER_TESTS=1 (they start processes and take a minute or
// two; scripts/test.sh sets it) and checks for leaked goroutines.
func TestMain(m *testing.M) {
	if os.Getenv("STREAMHUB_CLUSTER_TESTS") != "1" {
		fmt.Println("clustertest: skipped; STREAMHUB_CLUSTER_TESTS=1 runs the cluster tests")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "streamhub-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		os.Exit(1)
	}
	bins, err = Build(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "clustertest: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
