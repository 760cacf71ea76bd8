package loadgen

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/server/servertest"
)

// tinyRun is a workload small enough that nothing may be lost, even under
// -race on a busy two-core machine: 200 messages over one second. Under
// drop-oldest with the default 4096-message queues a client would have to
// stall for seconds before anything is dropped.
func tinyRun(target Target, wsURL, natsURL string) Config {
	return Config{
		Target: target, WSURL: wsURL, NATSURL: natsURL,
		Clients: 5, Rate: 200, Duration: time.Second, Subjects: 4,
		Policy: protocol.DropOldest,
	}
}

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("%+v", r)
	return r
}

// checkNoLoss asserts what a tiny run must show: every expected delivery
// arrived exactly once, and the latencies are positive and ordered.
func checkNoLoss(t *testing.T, r Result, wantExpected uint64) {
	t.Helper()
	if r.Published != 200 {
		t.Errorf("published %d, want 200 (rate × duration)", r.Published)
	}
	if r.Expected != wantExpected {
		t.Errorf("expected %d deliveries, want %d", r.Expected, wantExpected)
	}
	if r.Delivered != r.Expected {
		t.Errorf("delivered %d of %d (gaps %d, conflated %d, disconnected %d %q)",
			r.Delivered, r.Expected, r.Gaps, r.Conflated, r.Disconnected, r.DisconnectSample)
	}
	if r.Gaps+r.Conflated+r.Duplicates+r.Bad != 0 || r.Disconnected != 0 {
		t.Errorf("gaps %d, conflated %d, duplicates %d, bad %d, disconnected %d: want none",
			r.Gaps, r.Conflated, r.Duplicates, r.Bad, r.Disconnected)
	}
	if !(r.LatencyP50 > 0 && r.LatencyP50 <= r.LatencyP90 && r.LatencyP90 <= r.LatencyP99 && r.LatencyP99 <= r.LatencyMax) {
		t.Errorf("latencies not positive and ordered: p50 %v p90 %v p99 %v max %v", r.LatencyP50, r.LatencyP90, r.LatencyP99, r.LatencyMax)
	}
	if r.LatencyMax > 30*time.Second {
		t.Errorf("max latency %v is longer than the run: the timestamps are wrong", r.LatencyMax)
	}
	if r.Target == TargetStreamHub.String() && (r.Batches == 0 || r.Batches > r.Delivered) {
		t.Errorf("%d batches for %d deliveries", r.Batches, r.Delivered)
	}
	if r.DeliveredPerSec <= 0 || r.Window <= 0 {
		t.Errorf("delivered/s %v over %v: want positive", r.DeliveredPerSec, r.Window)
	}
}

func TestRunStreamHub(t *testing.T) {
	s := servertest.Start(t, nil)
	url := "ws://" + s.Addr() + "/v1/ws"

	t.Run("json/all subjects", func(t *testing.T) {
		cfg := tinyRun(TargetStreamHub, url, s.NATSURL())
		cfg.NATSCredentials = s.NATSCredentials()
		cfg.Patterns = []string{PatternAll("")}
		cfg.HubPID = os.Getpid()
		r := run(t, cfg)
		checkNoLoss(t, r, 200*5)
		if !r.BrokerInProcess || r.BrokerCPU != r.ToolCPU || r.ToolCPU <= 0 {
			t.Errorf("in-process broker: in-process %v, broker CPU %v, tool CPU %v", r.BrokerInProcess, r.BrokerCPU, r.ToolCPU)
		}
		if r.BrokerCPUPerDelivery <= 0 || r.DeliveriesPerBrokerCPUSecond <= 0 {
			t.Errorf("per-delivery CPU %v µs, %v deliveries/CPU-s: want positive", r.BrokerCPUPerDelivery, r.DeliveriesPerBrokerCPUSecond)
		}
	})
	t.Run("msgpack/one subject each", func(t *testing.T) {
		cfg := tinyRun(TargetStreamHub, url, s.NATSURL())
		cfg.NATSCredentials = s.NATSCredentials()
		cfg.Encoding = protocol.EncodingMsgpack
		r := run(t, cfg)
		// Clients 0 and 4 share subject 0; the others have one each:
		// 50 messages per subject, 2+1+1+1 subscribers.
		checkNoLoss(t, r, 50*5)
		if r.BrokerPID != 0 || r.BrokerCPU != 0 {
			t.Errorf("no PID given, yet broker PID %d CPU %v", r.BrokerPID, r.BrokerCPU)
		}
	})
}

func TestRunNATSWS(t *testing.T) {
	n, err := StartNATSWS(NATSWSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	cfg := tinyRun(TargetNATSWS, n.WSURL(), n.ClientURL())
	cfg.Patterns = []string{PatternAll("")}
	r := run(t, cfg)
	checkNoLoss(t, r, 200*5)
	if r.Encoding != "nats" || r.SlowConsumers != 0 {
		t.Errorf("encoding %q, slow consumers %d", r.Encoding, r.SlowConsumers)
	}
}

func TestRunRefusesRemoteTargets(t *testing.T) {
	for _, cfg := range []Config{
		{Target: TargetStreamHub, WSURL: "ws://10.0.0.1:8080", NATSURL: "nats://127.0.0.1:4222"},
		{Target: TargetNATSWS, WSURL: "ws://127.0.0.1:8080", NATSURL: "nats://nats.example.com:4222"},
	} {
		start := time.Now()
		_, err := Run(context.Background(), cfg)
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s / %s: err %v, want ErrNotLoopback", cfg.WSURL, cfg.NATSURL, err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("refusing took %v: it must not try to connect", time.Since(start))
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	ok := Config{Target: TargetStreamHub, WSURL: "ws://127.0.0.1:1/v1/ws", NATSURL: "nats://127.0.0.1:2"}
	for name, mutate := range map[string]func(*Config){
		"no target":          func(c *Config) { c.Target = 0 },
		"too long":           func(c *Config) { c.Duration = MaxDuration + time.Second },
		"too many clients":   func(c *Config) { c.Clients = MaxClients + 1 },
		"payload too small":  func(c *Config) { c.Payload = MinPayload - 1 },
		"pattern elsewhere":  func(c *Config) { c.Patterns = []string{"chain.>"} },
		"invalid pattern":    func(c *Config) { c.Patterns = []string{"ticks..x"} },
		"negative max rate":  func(c *Config) { c.MaxRate = -1 },
		"rate above the cap": func(c *Config) { c.Rate = MaxRate + 1 },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for target, want := range map[string]bool{
		"ws://127.0.0.1:8080/v1/ws":     true,
		"ws://localhost:8080":           true,
		"nats://127.0.0.2:4222":         true,
		"ws://[::1]:8080":               true,
		"127.0.0.1:4222":                true,
		"ws://10.0.0.1:8080":            false,
		"ws://0.0.0.0:8080":             false,
		"ws://example.com:8080":         false,
		"ws://127.0.0.1.nip.io:8080":    false,
		"nats://user:pw@10.1.2.3:4222":  false,
		"":                              false,
		"ws:///v1/ws":                   false,
		"localhost.example.org:80":      false,
		"wss://[2001:db8::1]:443/v1/ws": false,
	} {
		err := CheckLoopback(target)
		if (err == nil) != want {
			t.Errorf("CheckLoopback(%q) = %v, want accepted %v", target, err, want)
		}
		if err != nil && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckLoopback(%q) = %v, does not wrap ErrNotLoopback", target, err)
		}
	}
	if err := CheckLoopback("ws://10.0.0.1:8080"); err == nil || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Errorf("the error should name the refused target: %v", err)
	}
}
