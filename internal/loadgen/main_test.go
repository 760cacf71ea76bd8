package loadgen

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestMain doubles as the child process of the spawn tests: started with
// "bench-nats-server" it runs the peer broker until SIGTERM, as the hub
// binary's hidden subcommand does; with "exit-now" it fails at once.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "bench-nats-server":
			os.Exit(childNATSServer(os.Args[2:]))
		case "exit-now":
			fmt.Fprintln(os.Stderr, "child: exiting on purpose")
			os.Exit(3)
		}
	}
	goleak.VerifyTestMain(m)
}

func childNATSServer(args []string) int {
	fs := flag.NewFlagSet("bench-nats-server", flag.ContinueOnError)
	var cfg NATSWSConfig
	fs.IntVar(&cfg.Port, "port", 0, "")
	fs.IntVar(&cfg.WSPort, "ws-port", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := ServeNATSWS(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
