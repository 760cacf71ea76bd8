package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/upstream/evm"
)

// evmSource is `hub ingest evm`.
var evmSource = ingestSource{name: "evm", about: "an EVM chain's blocks, ERC-20 transfers and reorgs, from a node's JSON-RPC WebSocket", run: ingestEVM}

const evmDetails = `Follows an EVM node over JSON-RPC on a WebSocket (eth_subscribe newHeads,
eth_getBlockByHash, eth_getLogs) and publishes to the hub's CHAIN JetStream
stream:
  chain.NETWORK.block     each new canonical block; again when it reaches
                          --confirmations, and when the node's finalized
                          block passes it
  chain.NETWORK.transfer  its ERC-20 Transfer logs, with the block's marks;
                          again with "removed": true when a reorg retracts it
  chain.NETWORK.reorg     (critical) the retracted and the new blocks
Missed heads and reorgs are backfilled after a reconnect. Token symbols and
decimals come from a bundled list, else from the token (eth_call), cached.
Two ingestors of one chain may run for high availability: every message has
a Nats-Msg-Id, so the stream stores it once. The hub creates the stream;
start a hub on the same NATS first. See docs/streams.md.
`

// ingestEVM parses the evm source's flags and runs the ingestor until ctx
// is done.
func ingestEVM(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	const cmd = "ingest evm"
	fs := flag.NewFlagSet("hub "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg evm.Config
	fs.StringVar(&cfg.URL, "rpc", "", "the node's JSON-RPC WebSocket endpoint, ws://… or wss://… (required)")
	fs.StringVar(&cfg.Network, "network", "", "the network's name in the subjects: chain.NETWORK.… (required), e.g. eth")
	fs.IntVar(&cfg.Confirmations, "confirmations", evm.DefaultConfirmations, "depth at which a block is marked confirmed (the head has 1 confirmation)")
	tokens := fs.String("tokens", "", "token contracts to follow, 0x addresses, comma-separated (empty: every ERC-20 Transfer)")
	fs.IntVar(&cfg.Window, "window", evm.DefaultWindow, "recent blocks remembered: the deepest reorg and the longest gap followed block by block")
	fs.DurationVar(&cfg.StaleAfter, "stale-after", evm.DefaultStaleAfter, "reconnect when the node sends no new head for this long")
	fs.DurationVar(&cfg.BackoffMin, "backoff-min", evm.DefaultBackoffMin, "least delay before a reconnection (jittered, doubling up to --backoff-max)")
	fs.DurationVar(&cfg.BackoffMax, "backoff-max", evm.DefaultBackoffMax, "greatest delay before a reconnection")
	var base ingestFlags
	base.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hub %s --rpc ws://… --network NAME [flags]\n\n%s\n", cmd, evmDetails)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	for _, a := range strings.Split(*tokens, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !common.IsHexAddress(a) {
			return usageErrorf("%s: --tokens: %q is not a 0x address", cmd, a)
		}
		cfg.Tokens = append(cfg.Tokens, common.HexToAddress(a))
	}
	logger, err := base.logger(cmd, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = logger.With("source", "evm", "network", cfg.Network)
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%s: %w", cmd, err)
	}
	nc, err := base.connect(cmd, "streamhub-ingest-evm")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	sctx, cancel := context.WithTimeout(ctx, publishTimeout)
	_, err = js.Stream(sctx, bus.StreamChain)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: no %s stream on %s (a hub creates it: start one on this NATS first): %w", cmd, bus.StreamChain, base.natsURL, err)
	}
	g := evm.New(js, cfg)
	if base.metricsAddr != "" {
		stop, err := serveMetrics(base.metricsAddr, evmMetrics(g, cfg.Network))
		if err != nil {
			return fmt.Errorf("%s: --metrics-listen: %w", cmd, err)
		}
		defer stop()
	}
	cfg.Logger.Info("ingest: starting", "rpc", cfg.URL, "nats", base.natsURL, "confirmations", cfg.Confirmations)
	err = g.Run(ctx)
	s := g.Stats()
	cfg.Logger.Info("ingest: stopped", "published", s.Published, "duplicates", s.Duplicates, "errors", s.Errors,
		"blocks", s.Blocks, "reorgs", s.Reorgs, "reconnects", s.Reconnects)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// evmMetrics is the registry of an EVM ingestor's counters.
func evmMetrics(g *evm.Ingestor, network string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	counter := statsCounter(reg, "streamhub_ingest_evm_", prometheus.Labels{"network": network}, g.Stats)
	counter("published", "Messages the CHAIN stream stored.", func(s evm.Stats) uint64 { return s.Published })
	counter("duplicates", "Messages the stream already had (another ingestor of the chain published them).", func(s evm.Stats) uint64 { return s.Duplicates })
	counter("publish_errors", "Messages given up after repeated refusals.", func(s evm.Stats) uint64 { return s.Errors })
	counter("blocks", "Blocks that became canonical.", func(s evm.Stats) uint64 { return s.Blocks })
	counter("reorgs", "Reorg notices published.", func(s evm.Stats) uint64 { return s.Reorgs })
	counter("reconnects", "Connections to the node after the first.", func(s evm.Stats) uint64 { return s.Reconnects })
	return reg
}
