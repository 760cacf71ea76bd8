package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/evm"
)

func TestSubscribeTicks(t *testing.T) {
	s := servertest.Start(t, fastDemo)
	for _, enc := range []client.Encoding{client.EncodingDefault, client.EncodingJSON} {
		t.Run(enc.String(), func(t *testing.T) {
			c := dial(t, s, &client.Options{Encoding: enc})
			if got, want := c.Encoding(), enc; got != want && !(enc == client.EncodingDefault && got == client.EncodingMsgpack) {
				t.Fatalf("encoding %v, want %v", got, want)
			}
			sub := subscribe(t, c, "ticks.*.BTC-USD", client.SubscribeOptions{})
			evs := collect(t, sub, 6, 5*time.Second)
			for _, ev := range evs {
				if ev.Subject != "ticks.coinbase.BTC-USD" && ev.Subject != "ticks.binance.BTC-USD" {
					t.Fatalf("ticks.*.BTC-USD delivered %s", ev.Subject)
				}
				var tick client.Tick
				if err := ev.Decode(&tick); err != nil {
					t.Fatal(err)
				}
				if tick.Symbol != "BTC-USD" || tick.Last == "" || strings.ContainsAny(tick.Last, "eE") {
					t.Fatalf("tick %+v from %s", tick, ev.Data)
				}
				if ev.Seq == 0 || ev.Epoch == 0 || ev.Ingest.IsZero() || ev.Sent.Before(ev.Ingest) {
					t.Fatalf("event position or times: %+v", ev)
				}
			}
		})
	}
}

// A JSON and a msgpack client on the same subject see the same events: the
// same subjects, positions and flags, and data that decodes to the same
// values. The JSON client gets the publisher's bytes as they are.
func TestJSONAndMsgpackSeeSameEvents(t *testing.T) {
	s := servertest.Start(t, nil)
	jc := dial(t, s, &client.Options{Encoding: client.EncodingJSON})
	mc := dial(t, s, nil)
	opts := client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: 1024}
	js := subscribe(t, jc, "jobs.acme.>", opts)
	ms := subscribe(t, mc, "jobs.acme.>", opts)
	waitForPattern(t, s, "jobs.acme.>")

	nc := natsConn(t, s)
	payloads := []string{
		`{"tenant":"acme","job_id":"j1","state":"running","percent":42.5,"eta_ms":6400}`,
		`{"n":-7,"big":18446744073709551615,"neg":-9223372036854775808,"f":1.50,"e":2e3,"tiny":5e-324}`,
		`{"s":"caf\u00e9 \"quoted\" \\ tab\t","emoji":"😀","nil":null,"t":true,"f":false}`,
		`{"nested":{"a":[1,[2,[3,{"b":[]}]],{}],"z":"last"},"arr":[0.1,0.2,0.30000000000000004]}`,
		`[1,"two",3.0,{"four":4}]`,
		`"just a string"`,
		`12345`,
	}
	const rounds = 10
	var want []string
	seq := uint64(0)
	for r := 0; r < rounds; r++ {
		for i, p := range payloads {
			seq++
			subject := "jobs.acme.j" + string(rune('a'+i))
			publish(t, nc, subject, 77, seq, seq%9 == 0, p)
			want = append(want, p)
		}
	}
	n := rounds * len(payloads)
	jevs := collect(t, js, n, 10*time.Second)
	mevs := collect(t, ms, n, 10*time.Second)
	last := map[string]uint64{}
	for i := range n {
		j, m := jevs[i], mevs[i]
		if j.Subject != m.Subject || j.Epoch != m.Epoch || j.Seq != m.Seq || j.Critical != m.Critical || !j.TS.Equal(m.TS) {
			t.Fatalf("event %d differs:\njson    %+v\nmsgpack %+v", i, j, m)
		}
		// Positions are the publisher's or the stream's, depending on the
		// hub; either way they increase per subject.
		if j.Seq <= last[j.Subject] || j.Critical != ((i+1)%9 == 0) || j.TS.UnixMilli() != 1732712345600 {
			t.Fatalf("event %d: %+v", i, j)
		}
		last[j.Subject] = j.Seq
		if string(j.Data) != want[i] {
			t.Fatalf("event %d: JSON data %s, published %s", i, j.Data, want[i])
		}
		var jv, mv any
		if err := j.Decode(&jv); err != nil {
			t.Fatal(err)
		}
		if err := m.Decode(&mv); err != nil {
			t.Fatalf("msgpack data %s: %v", m.Data, err)
		}
		if !reflect.DeepEqual(jv, mv) {
			t.Fatalf("event %d data differs:\njson    %s\nmsgpack %s", i, j.Data, m.Data)
		}
	}
}

func TestErrorsAreTyped(t *testing.T) {
	s := servertest.Start(t, nil)
	c := dial(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var he *client.Error
	_, err := c.Subscribe(ctx, "chain..block", client.SubscribeOptions{})
	if !errors.As(err, &he) || he.Code != client.CodeInvalidSubject || !strings.Contains(he.Message, "chain..block") {
		t.Fatalf("invalid subject: %v", err)
	}
	_, err = c.Subscribe(ctx, "chain.eth.>", client.SubscribeOptions{Policy: client.PolicyDropOldest, MaxRate: 5})
	if !errors.As(err, &he) || he.Code != client.CodeInvalidOption {
		t.Fatalf("max_rate with drop-oldest: %v", err)
	}
	_, err = c.Subscribe(ctx, "chain.eth.>", client.SubscribeOptions{MaxRate: math.NaN()})
	if !errors.As(err, &he) || he.Code != client.CodeInvalidOption {
		t.Fatalf("NaN max_rate: %v", err)
	}

	// A refused subscribe leaves nothing behind: the same pattern, valid
	// options, works; a second one is refused locally.
	sub, err := c.Subscribe(ctx, "chain.eth.>", client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("valid subscribe after refusals: %v", err)
	}
	if _, err := c.Subscribe(ctx, "chain.eth.>", client.SubscribeOptions{}); !errors.Is(err, client.ErrAlreadySubscribed) {
		t.Fatalf("duplicate subscribe: %v", err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if _, ok := <-sub.C(); ok || sub.Err() != nil {
		t.Fatalf("after Unsubscribe the channel must be closed and Err nil, got %v", sub.Err())
	}
	testsupport.WaitFor(t, "the hub to drop the pattern", 5*time.Second, func() bool { return s.Hub().NumPatterns() == 0 })
	if _, err := c.Subscribe(ctx, "chain.eth.>", client.SubscribeOptions{}); err != nil {
		t.Fatalf("subscribe again after unsubscribe: %v", err)
	}

	_ = c.Close()
	if _, err := c.Subscribe(ctx, "ticks.>", client.SubscribeOptions{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
}

// Subjects outside the stored families (lab.…) keep the publisher's Sh-Seq,
// so these tests can assert exact positions.

// An application that does not read a subscription loses nothing: the
// client stops reading the connection (backpressure) instead of dropping
// events, the hub holds them in its queue, and once the application reads,
// every event arrives in order, critical ones included. Regression (issue 9,
// edge 6): the client used to drop the oldest buffered events, critical
// ones too, reporting only a local gap.
func TestSlowApplicationLosesNothing(t *testing.T) {
	s := servertest.Start(t, nil)
	var g gaps
	c := dial(t, s, &client.Options{OnGap: g.record})
	const buffer, n = 4, 300
	slow := subscribe(t, c, "lab.test.slow", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: buffer})
	other := subscribe(t, c, "lab.test.other", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: n})
	waitForPattern(t, s, "lab.test.slow")
	waitForPattern(t, s, "lab.test.other")

	nc := natsConn(t, s)
	for i := uint64(1); i <= n; i++ {
		publish(t, nc, "lab.test.slow", 5, i, i%10 == 0, `{"i":1}`)
		publish(t, nc, "lab.test.other", 5, i, false, `{"i":2}`)
	}
	// The hub has queued what the client could not take yet.
	testsupport.WaitFor(t, "the hub holding the backlog", 10*time.Second, func() bool {
		st := s.Hub().Stats()
		return st.QueuedMessages > 0 || st.Delivered >= 2*n
	})
	// The slow subscription first: until it is read, it holds the
	// connection's read loop, and with it the other subscription (one
	// connection is one ordered stream), whose buffer has room for all.
	for _, sub := range []*client.Subscription{slow, other} {
		evs := collect(t, sub, n, 15*time.Second)
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) || ev.Critical != (ev.Seq%10 == 0 && sub == slow) {
				t.Fatalf("%s: event %d has seq %d, critical %v", sub.Pattern(), i, ev.Seq, ev.Critical)
			}
		}
	}
	if n := g.count(); n != 0 {
		t.Fatalf("%d gaps reported", n)
	}
	st := s.Hub().Stats()
	if st.Dropped != 0 || st.Disconnects[fanout.ReasonSlowConsumer] != 0 {
		t.Fatalf("the hub had to drop (%d) or disconnect (%d)", st.Dropped, st.Disconnects[fanout.ReasonSlowConsumer])
	}
}

// An application stuck for longer than the hub's queue can hold still gets
// every critical job event exactly once: the hub closes the connection
// (4001), and the client reconnects and resumes from the last event it
// handed over, so the replay brings what the hub could not queue.
func TestStuckApplicationGetsEveryCriticalEventAfterResume(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		c.Fanout.MaxQueueMessages = 16
		c.Gateway.Heartbeat = time.Second
	})
	c := dial(t, s, &client.Options{Backoff: client.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond}})
	sub := subscribe(t, c, "jobs.acme.>", client.SubscribeOptions{Policy: client.PolicyKeepLatest, Buffer: 2})
	waitForPattern(t, s, "jobs.acme.>")
	js, err := jetstream.New(natsConn(t, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Big enough events that the socket's buffers fill and the hub's queue
	// overflows while the application is stuck.
	pad := strings.Repeat("x", 64<<10)
	const jobs = 40
	var terminal []uint64
	for j := range jobs {
		subject := "jobs.acme.j" + strconv.Itoa(j)
		for range 3 {
			if _, err := js.Publish(ctx, subject, []byte(`{"state":"running","pad":"`+pad+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		m := nats.NewMsg(subject)
		m.Data = []byte(`{"state":"done","pad":"` + pad + `"}`)
		m.Header.Set("Sh-Critical", "true")
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		terminal = append(terminal, ack.Sequence)
	}
	closes := func() (n uint64) {
		for _, c := range s.Hub().Stats().Disconnects {
			n += c
		}
		return n
	}
	// The application is stuck until the hub gives up on the connection
	// (queue overflow, a ping or batch that cannot be written, or no pong
	// for two heartbeats); then it reads.
	testsupport.WaitFor(t, "the hub closing the stuck client", 15*time.Second, func() bool { return closes() > 0 })
	t.Logf("hub closes: %v", s.Hub().Stats().Disconnects)
	got := map[uint64]int{}
	last := map[string]uint64{}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for len(got) < jobs {
		select {
		case ev := <-sub.C():
			if ev.Seq <= last[ev.Subject] {
				t.Fatalf("%s: seq %d after %d", ev.Subject, ev.Seq, last[ev.Subject])
			}
			last[ev.Subject] = ev.Seq
			if ev.Critical {
				got[ev.Seq]++
			}
		case <-deadline.C:
			t.Fatalf("%d of %d terminal events after 30 s (hub stats %+v)", len(got), jobs, s.Hub().Stats())
		}
	}
	for _, seq := range terminal {
		if got[seq] != 1 {
			t.Fatalf("terminal event %d delivered %d times", seq, got[seq])
		}
	}
}

// Overlapping patterns make the hub send a message once per pattern; each
// subscription still sees each message once.
func TestOverlappingPatternsDeliverOnce(t *testing.T) {
	s := servertest.Start(t, nil)
	c := dial(t, s, &client.Options{Encoding: client.EncodingJSON})
	wide := subscribe(t, c, "lab.test.>", client.SubscribeOptions{Policy: client.PolicyDropOldest})
	narrow := subscribe(t, c, "lab.test.x", client.SubscribeOptions{Policy: client.PolicyDropOldest})
	waitForPattern(t, s, "lab.test.>")
	waitForPattern(t, s, "lab.test.x")
	nc := natsConn(t, s)
	for i := uint64(1); i <= 5; i++ {
		publish(t, nc, "lab.test.x", 3, i, false, `{"i":0}`)
	}
	publish(t, nc, "lab.test.y", 3, 1, false, `{"end":true}`)
	w := collect(t, wide, 6, 5*time.Second)
	nEv := collect(t, narrow, 5, 5*time.Second)
	for i := range 5 {
		if w[i].Seq != uint64(i+1) || nEv[i].Seq != uint64(i+1) {
			t.Fatalf("event %d: wide seq %d, narrow seq %d", i, w[i].Seq, nEv[i].Seq)
		}
	}
	if w[5].Subject != "lab.test.y" {
		t.Fatalf("wide got %s after the five, want chain.test.y", w[5].Subject)
	}
	// Each subscription owns its data.
	w[0].Data[0] = 'X'
	if nEv[0].Data[0] != '{' {
		t.Fatal("two subscriptions share an event's data")
	}
	select {
	case ev := <-narrow.C():
		t.Fatalf("narrow got a sixth event %+v", ev)
	default:
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s := servertest.Start(t, fastDemo)
	var st states
	c := dial(t, s, &client.Options{OnStateChange: st.record})
	sub := subscribe(t, c, "ticks.>", client.SubscribeOptions{})
	got := make(chan client.Event, 1)
	fsub, err := c.SubscribeFunc(context.Background(), "chain.>", client.SubscribeOptions{}, func(ev client.Event) {
		select {
		case got <- ev:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	collect(t, sub, 1, 5*time.Second)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("SubscribeFunc handler never called")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close() // idempotent
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	for range sub.C() { // drains what was buffered, then ends
	}
	if !errors.Is(c.Err(), client.ErrClosed) || !errors.Is(sub.Err(), client.ErrClosed) || !errors.Is(fsub.Err(), client.ErrClosed) {
		t.Fatalf("errors after Close: client %v, sub %v, func sub %v", c.Err(), sub.Err(), fsub.Err())
	}
	if c.State() != client.StateClosed || st.String() != "connected closed" {
		t.Fatalf("state %v, changes %q", c.State(), st.String())
	}
	testsupport.WaitFor(t, "the hub to see the client leave", 5*time.Second, func() bool { return s.Hub().NumClients() == 0 })

}

func TestPayloadTypesMatchStreams(t *testing.T) {
	// The typed payloads decode the demo feed's JSON field for field.
	ev := client.Event{Subject: "jobs.acme.j1", Data: json.RawMessage(`{"tenant":"acme","job_id":"j1","model":"m","state":"failed","stage":"failed","percent":50.3,"eta_ms":0,"error":"oom","ts":5}`)}
	var jp client.JobProgress
	if err := ev.Decode(&jp); err != nil || jp.Error != "oom" || jp.Percent != 50.3 || jp.JobID != "j1" {
		t.Fatalf("%+v %v", jp, err)
	}
	if err := (client.Event{Subject: "x", Data: json.RawMessage(`[`)}).Decode(&jp); err == nil || !strings.HasPrefix(err.Error(), "client: ") {
		t.Fatalf("bad data: %v", err)
	}
}

// The typed payloads have exactly the JSON fields of the feeds' types:
// the demo's, and the EVM ingestor's for the chain family (a superset),
// each of the same JSON shape.
func TestPayloadTypesMatchUpstream(t *testing.T) {
	for _, p := range [][]any{{client.Tick{}, upstream.Tick{}}, {client.Block{}, upstream.Block{}, evm.Block{}},
		{client.Transfer{}, upstream.Transfer{}, evm.Transfer{}}, {client.Reorg{}, upstream.Reorg{}, evm.Reorg{}},
		{client.JobProgress{}, upstream.JobProgress{}}} {
		got := jsonFields(reflect.TypeOf(p[0]))
		want := map[string]string{}
		for _, src := range p[1:] {
			for name, shape := range jsonFields(reflect.TypeOf(src)) {
				if w, ok := want[name]; ok && w != shape {
					t.Fatalf("%T: field %s is %s here, %s elsewhere", src, name, shape, w)
				}
				want[name] = shape
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T has the JSON fields %v, the feeds send %v", p[0], got, want)
		}
	}
}

// jsonFields maps a struct's JSON field names to their JSON shape.
func jsonFields(t reflect.Type) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[name] = jsonShape(f.Type)
	}
	return out
}

func jsonShape(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return fmt.Sprint(jsonFields(t))
	case reflect.Slice:
		return "[]" + jsonShape(t.Elem())
	case reflect.Pointer:
		return jsonShape(t.Elem())
	}
	return t.Kind().String()
}

// A snapshot cut to the hub's cap says so, and holds the subjects that
// changed most recently.
func TestSnapshotTruncatedIsReported(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.History.MaxSnapshot = 2 })
	js, err := jetstream.New(natsConn(t, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, j := range []string{"a", "b", "c"} {
		if _, err := js.Publish(ctx, "jobs.acme."+j, []byte(`{"state":"done"}`)); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, s, nil)
	sub := subscribe(t, c, "jobs.acme.>", client.SubscribeOptions{Snapshot: true})
	if !sub.SnapshotTruncated() {
		t.Fatal("a snapshot of 3 subjects with a cap of 2 is not reported truncated")
	}
	evs := collect(t, sub, 2, 5*time.Second)
	if evs[0].Subject != "jobs.acme.b" || evs[1].Subject != "jobs.acme.c" || !evs[0].Snapshot {
		t.Fatalf("snapshot %s, %s; want the newest two, b and c", evs[0].Subject, evs[1].Subject)
	}
	if whole := subscribe(t, c, "jobs.acme.a", client.SubscribeOptions{Snapshot: true}); whole.SnapshotTruncated() {
		t.Fatal("a snapshot within the cap is reported truncated")
	}
}
