package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

func TestTicksReachSubscribers(t *testing.T) {
	s := startHub(t, fastDemo)
	for _, sub := range []string{protocol.SubprotocolJSON, protocol.SubprotocolMsgpack} {
		t.Run(sub, func(t *testing.T) {
			c := dial(t, s, sub)
			c.subscribe(protocol.Command{}, "ticks.>")
			evs := c.events(2*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
			if !allHavePrefix(evs, "ticks.") {
				t.Fatalf("ticks.> delivered %v", subjectsOf(evs))
			}
			if last := dataField(t, evs[0], c.enc, "last"); last == "" || strings.Contains(last, "e") {
				t.Fatalf("tick without a decimal last price: %q", last)
			}
		})
	}

	t.Run("only BTC from both venues", func(t *testing.T) {
		c := dial(t, s, "")
		c.subscribe(protocol.Command{}, "ticks.*.BTC-USD")
		evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(subjectsOf(e)) == 2 })
		for subj := range subjectsOf(evs) {
			if subj != "ticks.coinbase.BTC-USD" && subj != "ticks.binance.BTC-USD" {
				t.Fatalf("ticks.*.BTC-USD delivered %s", subj)
			}
		}
	})

	t.Run("two clients get only their own subjects; unsubscribe stops delivery", func(t *testing.T) {
		eth, sol := dial(t, s, ""), dial(t, s, "")
		eth.subscribe(protocol.Command{}, "ticks.coinbase.ETH-USD")
		sol.subscribe(protocol.Command{}, "ticks.binance.SOL-USD")
		e := eth.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 3 })
		o := sol.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 3 })
		if len(subjectsOf(e)) != 1 || subjectsOf(e)["ticks.coinbase.ETH-USD"] == 0 {
			t.Fatalf("ETH client got %v", subjectsOf(e))
		}
		if len(subjectsOf(o)) != 1 || subjectsOf(o)["ticks.binance.SOL-USD"] == 0 {
			t.Fatalf("SOL client got %v", subjectsOf(o))
		}
		id := eth.send(protocol.Command{Op: protocol.OpUnsubscribe, Subjects: []string{"ticks.coinbase.ETH-USD"}})
		if m := eth.answer(id); m.Op != protocol.OpOK {
			t.Fatalf("unsubscribe: %+v", m)
		}
		eth.pending = nil // events queued before the answer may still arrive; drop them
		// After the ok, at most one batch already on its way can arrive.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		batches := 0
		for {
			_, frame, err := eth.conn.Read(ctx)
			if err != nil {
				break
			}
			if m, _ := protocol.DecodeServer(eth.enc, frame); m.Op == protocol.OpBatch {
				batches++
			}
		}
		if batches > 1 {
			t.Fatalf("%d batches arrived after unsubscribe", batches)
		}
	})
}

func TestOutsidePublisherReachesSubscribers(t *testing.T) {
	s := startHub(t, nil)
	c := dial(t, s, "")
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>", "ticks.test.>")

	nc, err := nats.Connect(s.NATSURL(), s.NATSCredentials().Option())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	publish := func(subject string, i int, seqHeaders bool) {
		m := nats.NewMsg(subject)
		m.Data = []byte(`{"tenant":"acme","job_id":"j_test","state":"running","percent":` + strconv.Itoa(i*10) + `}`)
		m.Header.Set("Sh-Ts", "1732712345600")
		if seqHeaders {
			m.Header.Set("Sh-Epoch", "42")
			m.Header.Set("Sh-Seq", strconv.Itoa(i))
		}
		if i == 3 {
			m.Header.Set("Sh-Critical", "1")
		}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		publish("jobs.acme.j_test", i, true) // stored: positioned by the JOBS stream
	}
	for i := 1; i <= 3; i++ {
		publish("ticks.test.X", i, true) // core NATS: the publisher's own numbering
	}
	if err := nc.Publish("ticks.test.plain", []byte(`{"x":1}`)); err != nil { // numbered by the hub
		t.Fatal(err)
	}
	evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) == 7 })
	var jobs, ticks []protocol.EventFrame
	for _, ev := range evs {
		switch ev.Subject {
		case "jobs.acme.j_test":
			jobs = append(jobs, ev)
		case "ticks.test.X":
			ticks = append(ticks, ev)
		case "ticks.test.plain":
			if ev.Seq != 1 || ev.Epoch == 0 {
				t.Fatalf("hub-numbered event: %+v", ev)
			}
		}
	}
	if len(jobs) != 3 || len(ticks) != 3 {
		t.Fatalf("got %d job and %d tick events", len(jobs), len(ticks))
	}
	for i := range 3 {
		j, k := jobs[i], ticks[i]
		if j.Epoch == 0 || j.Epoch == 42 || (i > 0 && j.Seq <= jobs[i-1].Seq) {
			t.Fatalf("job event %d not positioned by its stream: %+v", i, j)
		}
		if k.Epoch != 42 || k.Seq != uint64(i+1) {
			t.Fatalf("tick event %d lost the publisher's numbering: %+v", i, k)
		}
		for _, ev := range []protocol.EventFrame{j, k} {
			if ev.TS != 1732712345600 || ev.Ingest < ev.TS || ev.Critical != (i == 2) {
				t.Fatalf("event %d: %+v", i, ev)
			}
			if got := dataField(t, ev, c.enc, "percent"); got != strconv.Itoa((i+1)*10) {
				t.Fatalf("event %d percent %s", i, got)
			}
		}
	}
}

func TestNATSSubscriptionsFollowClients(t *testing.T) {
	s := startHub(t, nil)
	a, b := dial(t, s, ""), dial(t, s, "")
	a.subscribe(protocol.Command{}, "ticks.>", "chain.eth.block")
	b.subscribe(protocol.Command{}, "ticks.>")
	b.subscribe(protocol.Command{}, "jobs.acme.*")
	// One core subscription for the ticks, one consumer per stored stream.
	want := "chain.> jobs.> ticks.>"
	if got := strings.Join(s.Router().Patterns(), " "); got != want {
		t.Fatalf("NATS patterns %q, want %q", got, want)
	}
	_ = a.conn.Close(websocket.StatusNormalClosure, "")
	testsupport.WaitFor(t, "a's patterns released", 5*time.Second, func() bool {
		return strings.Join(s.Router().Patterns(), " ") == "jobs.> ticks.>"
	})
	_ = b.conn.Close(websocket.StatusNormalClosure, "")
	testsupport.WaitFor(t, "every pattern released", 5*time.Second, func() bool {
		return len(s.Router().Patterns()) == 0 && s.Hub().NumPatterns() == 0
	})
	// And the NATS server agrees: the hub's connection holds no subscriptions.
	base := baselineSubs(t, s)
	defer func() {
		if t.Failed() {
			sz, _ := s.embedded.Server().Subsz(&server.SubszOptions{Subscriptions: true, Limit: 100})
			for _, sub := range sz.Subs {
				t.Logf("left: %s (client %d)", sub.Subject, sub.Cid)
			}
		}
	}()
	testsupport.WaitFor(t, "server-side subscriptions gone", 5*time.Second, func() bool {
		return s.embedded.Server().NumSubscriptions() == base
	})
}

// baselineSubs is the number of server subscriptions the hub holds with no
// client: the JetStream API's and the like, which do not belong to clients.
func baselineSubs(t testing.TB, s *Server) uint32 {
	t.Helper()
	ref := startHubOnly(t)
	return ref.embedded.Server().NumSubscriptions()
}

func startHubOnly(t testing.TB) *Server { return startHub(t, nil) }

func TestSlowClientDoesNotSlowOthers(t *testing.T) {
	for _, policy := range []protocol.Policy{protocol.Disconnect, protocol.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			// The slow client never reads for as long as the fast ones take to read
			// everything: on a loaded machine, longer than the default write timeout.
			s := startHub(t, func(c *Config) { c.Fanout.MaxQueueBytes, c.Fanout.WriteTimeout = 256<<10, 2*time.Minute })
			nc, err := nats.Connect(s.NATSURL(), s.NATSCredentials().Option())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()

			// The slow client subscribes to big messages and never reads.
			slow := dial(t, s, "")
			slow.subscribe(protocol.Command{Policy: policy}, "chain.test.>")
			fast := make([]*wsClient, 50)
			for i := range fast {
				fast[i] = dial(t, s, "")
				fast[i].subscribe(protocol.Command{Policy: protocol.DropOldest}, "chain.test.small")
			}
			big := []byte(`{"blob":"` + strings.Repeat("x", 64<<10) + `"}`)
			const smalls = 200
			for i := range smalls {
				if err := nc.Publish("chain.test.big", big); err != nil {
					t.Fatal(err)
				}
				if err := nc.Publish("chain.test.small", []byte(`{"i":`+strconv.Itoa(i)+`}`)); err != nil {
					t.Fatal(err)
				}
				if i%20 == 19 {
					_ = nc.Flush()
				}
			}
			defer func() {
				if t.Failed() {
					vz, _ := s.embedded.Server().Varz(nil)
					t.Logf("hub stats %+v; nats client dropped %d; server slow consumers %d; ingest rejected %d", s.Hub().Stats(), s.conn.Dropped(), vz.SlowConsumers, s.ingest.Rejected())
				}
			}()
			for i, c := range fast {
				evs := c.events(20*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= smalls })
				// Stored subjects carry their stream's sequence: increasing, and
				// here interleaved with the big messages.
				for j, ev := range evs {
					if j > 0 && ev.Seq <= evs[j-1].Seq {
						t.Fatalf("fast client %d: event %d has seq %d after %d", i, j, ev.Seq, evs[j-1].Seq)
					}
				}
			}
			st := s.Hub().Stats()
			switch policy {
			case protocol.Disconnect:
				testsupport.WaitFor(t, "slow consumer disconnected", 10*time.Second, func() bool {
					return s.Hub().Stats().Disconnects[fanout.ReasonSlowConsumer] == 1
				})
			case protocol.DropOldest:
				testsupport.WaitFor(t, "drops announced", 10*time.Second, func() bool { return s.Hub().Stats().Dropped > 0 })
				if st.Disconnects[fanout.ReasonSlowConsumer] != 0 {
					t.Fatalf("drop-oldest client was disconnected")
				}
				// It is still connected, and once it reads it sees gap notices
				// naming the subject and the exact range it lost.
				deadline := time.Now().Add(20 * time.Second)
				for {
					m, err := slow.read(time.Until(deadline))
					if err != nil {
						t.Fatalf("slow client never saw a gap notice: %v", err)
					}
					if len(m.Gaps) > 0 {
						g := m.Gaps[0]
						if !strings.HasPrefix(g.Subject, "chain.test.") || g.From == 0 || g.To < g.From {
							t.Fatalf("gap notice %+v", g)
						}
						break
					}
				}
				if s.Hub().NumClients() != 51 {
					t.Fatalf("%d clients connected, want 51", s.Hub().NumClients())
				}
			}
		})
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	s := startHub(t, fastDemo)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	c := dial(t, s, "")
	c.subscribe(protocol.Command{}, "ticks.>")
	c.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 5 })
	_, body := get("/metrics")
	for _, want := range []string{"streamhub_connections 1", "streamhub_messages_in_total", "streamhub_messages_out_total",
		`streamhub_disconnects_total{reason="slow_consumer"}`, "streamhub_messages_conflated_total", "streamhub_gap_notices_total",
		"streamhub_nats_subscriptions 1", "streamhub_subscribed_patterns 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestShutdownClosesClientsWithGoingAway(t *testing.T) {
	s := startHub(t, fastDemo)
	c := dial(t, s, "")
	c.subscribe(protocol.Command{}, "ticks.>")
	c.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	if code := c.closeStatus(10 * time.Second); code != websocket.StatusCode(protocol.CloseShutdown) {
		t.Fatalf("close code %d, want %d", code, protocol.CloseShutdown)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if s.Ready() {
		t.Fatal("ready after shutdown")
	}
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the listener still answers after shutdown")
	}
}
