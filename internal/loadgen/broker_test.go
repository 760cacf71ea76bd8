package loadgen

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// TestSpawnNATSWS runs the peer broker as a child process (this test
// binary, see TestMain), drives it, and checks that the child's CPU is
// read and that it is stopped, both by Stop and by its context.
func TestSpawnNATSWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b, err := SpawnNATSWS(ctx, SpawnConfig{Exe: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if b.PID() == os.Getpid() || b.Exited() {
		t.Fatalf("child pid %d, exited %v", b.PID(), b.Exited())
	}
	cfg := tinyRun(TargetNATSWS, b.WSURL, b.NATSURL)
	cfg.HubPID = b.PID()
	r := run(t, cfg)
	checkNoLoss(t, r, 50*5)
	if r.BrokerPID != b.PID() || r.BrokerInProcess {
		t.Errorf("broker pid %d in-process %v, want %d in a child", r.BrokerPID, r.BrokerInProcess, b.PID())
	}
	if err := b.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !b.Exited() {
		t.Error("child still running after Stop")
	}

	// A second child, stopped by its context alone.
	cctx, ccancel := context.WithCancel(ctx)
	b2, err := SpawnNATSWS(cctx, SpawnConfig{Exe: os.Args[0]})
	if err != nil {
		ccancel()
		t.Fatal(err)
	}
	defer b2.Stop()
	ccancel()
	testsupport.WaitFor(t, "the child to exit after its context ended", 15*time.Second, b2.Exited)
}

func TestSpawnReportsAChildThatDies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := SpawnHub(ctx, SpawnConfig{Exe: os.Args[0], Args: []string{"exit-now"}})
	if err == nil {
		t.Fatal("spawning a child that exits at once succeeded")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "exiting on purpose") {
		t.Errorf("error %q should say the child exited and quote its output", err)
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	d, err := ProcessCPU(os.Getpid())
	if err != nil || d <= 0 {
		t.Fatalf("ProcessCPU(self) = %v, %v", d, err)
	}
	// A command name with spaces and parentheses must not shift fields.
	line := []byte("1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0")
	if d, err := parseStat(line); err != nil || d != 3250*time.Millisecond {
		t.Errorf("parseStat = %v, %v; want 3.25s (325 ticks at %d Hz)", d, err, ClockTicks)
	}
	if _, err := parseStat([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("a short stat line was accepted")
	}
}
