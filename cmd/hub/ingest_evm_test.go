package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"
)

// hub ingest evm and hub subscribe, as the README shows them (the node's
// URL, NATS and data directory aside), against go-ethereum's simulated
// node and a real hub (in-process, embedded NATS): a client of the hub
// (hub subscribe) sees the chain's blocks and an ERC-20 transfer, and the
// ingestor stops cleanly on cancel.
func TestIngestEVMFeedsAHubEndToEnd(t *testing.T) {
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	base, natsURL := "http://"+addr, "nats://"+natsAddr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- runIO(ctx, []string{"serve", "--demo", "--listen", addr, "--nats-listen", natsAddr, "--data-dir", dataDir},
			env(nil), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		_ = testsupport.Await(t, "serve to return after cancel", served, 20*time.Second)
	}()
	testsupport.WaitFor(t, "the hub to be ready", 30*time.Second, func() bool { return ready(base) })

	sim := evmtest.Start(t, 2)
	ictx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	ingestLog := &testsupport.Buffer{}
	metricsAddr := freeAddr(t)
	ingested := make(chan error, 1)
	go func() {
		ingested <- runIO(ictx, []string{"ingest", "evm", "--rpc", sim.WSURL, "--network", "mainnet", "--confirmations", "12",
			"--nats-url", natsURL, "--data-dir", dataDir, "--metrics-listen", metricsAddr}, env(nil), io.Discard, ingestLog)
	}()

	// A client of the hub: live blocks and transfers of the chain. The
	// chain moves until the client has seen both.
	watched := &testsupport.Buffer{}
	watching := make(chan error, 1)
	go func() {
		watching <- runIO(ctx, []string{"subscribe", "--url", base, "chain.mainnet.>"}, env(nil), watched, io.Discard)
	}()
	block := regexp.MustCompile(`(?m)^chain\.mainnet\.block seq=\d+ \{.*"network":"mainnet".*"confirmations":\d+`)
	transfer := regexp.MustCompile(`(?m)^chain\.mainnet\.transfer seq=\d+ \{.*"asset":"TST","decimals":6,"amount":"0\.001234"`)
	testsupport.WaitFor(t, "hub subscribe to print a block and a transfer of the simulated chain", 60*time.Second, func() bool {
		sim.Transfer(0, 1, 1234)
		sim.Commit()
		time.Sleep(100 * time.Millisecond) // pace the chain; not a condition
		return block.MatchString(watched.String()) && transfer.MatchString(watched.String())
	})

	// Its metrics count what it did.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{`(?m)^streamhub_ingest_evm_blocks_total\{network="mainnet"\} [1-9]`, `(?m)^streamhub_ingest_evm_published_total\{network="mainnet"\} [1-9]`} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("metrics lack %s:\n%s", re, body)
		}
	}

	stopIngest()
	if err := testsupport.Await(t, "hub ingest evm to return after cancel", ingested, 20*time.Second); err != nil {
		t.Fatalf("hub ingest evm returned %v after its context ended", err)
	}
	if !strings.Contains(ingestLog.String(), "ingest: stopped") {
		t.Errorf("no stop record in the ingestor's log:\n%s", ingestLog)
	}
	cancel()
	if err := <-watching; err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("hub subscribe ended with %v", err)
	}
}

// Without the hub's CHAIN stream on NATS (no hub ever ran there), hub
// ingest evm fails at once with one line that says so, exit 1.
func TestIngestEVMWithoutAStreamFailsInOneLine(t *testing.T) {
	ns := bustest.StartNATS(t)
	err := runIO(context.Background(), []string{"ingest", "evm", "--rpc", "ws://127.0.0.1:1", "--network", "eth",
		"--nats-url", ns.ClientURL()}, env(nil), io.Discard, io.Discard)
	if exitCode(err) != exitFailure || !strings.Contains(present(err), "no CHAIN stream") || strings.Contains(present(err), "\n") {
		t.Fatalf("got %v (exit %d), want one line about the missing stream", err, exitCode(err))
	}
}

// Bad flags of hub ingest evm are usage errors (exit 2), each one line.
func TestIngestEVMRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--network", "eth"},
		{"--rpc", "http://127.0.0.1:8545", "--network", "eth"},
		{"--rpc", "ws://127.0.0.1:8546"},
		{"--rpc", "ws://127.0.0.1:8546", "--network", "a.b"},
		{"--rpc", "ws://127.0.0.1:8546", "--network", "eth", "--tokens", "0xnothex"},
		{"--rpc", "ws://127.0.0.1:8546", "--network", "eth", "--confirmations", "-1"},
	} {
		err := runIO(context.Background(), append([]string{"ingest", "evm"}, args...), env(nil), io.Discard, io.Discard)
		if exitCode(err) != exitUsage || strings.Contains(present(err), "\n") {
			t.Errorf("hub ingest evm %s: %v (exit %d), want a one-line usage error", strings.Join(args, " "), err, exitCode(err))
		}
	}
}
