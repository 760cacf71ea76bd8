package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/upstream"
)

func TestSubscribeTicks(t *testing.T) {
	s := startHub(t, fastDemo)
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
	s := startHub(t, nil)
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
	s := startHub(t, nil)
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
	waitFor(t, "the hub to drop the pattern", 5*time.Second, func() bool { return s.Hub().NumPatterns() == 0 })
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

// An application that never reads one subscription's channel stalls
// neither its other subscriptions nor the hub: the client drops the oldest
// buffered events, counts them and reports them as local gaps.
func TestUnreadSubscriptionDoesNotStallOthers(t *testing.T) {
	s := startHub(t, nil)
	var g gaps
	c := dial(t, s, &client.Options{OnGap: g.record})
	const buffer, n = 8, 300
	idle := subscribe(t, c, "lab.test.idle", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: buffer})
	busy := subscribe(t, c, "lab.test.busy", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: n})
	waitForPattern(t, s, "lab.test.idle")
	waitForPattern(t, s, "lab.test.busy")

	nc := natsConn(t, s)
	for i := uint64(1); i <= n; i++ {
		publish(t, nc, "lab.test.idle", 5, i, false, `{"i":1}`)
		publish(t, nc, "lab.test.busy", 5, i, false, `{"i":2}`)
	}
	defer func() {
		if t.Failed() {
			l, r := g.counts()
			t.Logf("hub stats %+v; idle dropped %d; gaps local %d reported %d", s.Hub().Stats(), idle.Dropped(), l, r)
		}
	}()
	evs := collect(t, busy, n, 15*time.Second)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("busy subscription: event %d has seq %d (first: %+v)", i, ev.Seq, evs[:3])
		}
	}
	if busy.Dropped() != 0 {
		t.Fatalf("the read subscription dropped %d", busy.Dropped())
	}
	waitFor(t, "the idle subscription's drops", 10*time.Second, func() bool {
		local, _ := g.counts()
		return idle.Dropped() == n-buffer && local == n-buffer
	})
	local, reported := g.counts()
	if local != n-buffer || reported != 0 {
		t.Fatalf("gaps: %d local, %d from the hub; want %d and 0", local, reported, n-buffer)
	}
	g.mu.Lock()
	first := g.local[0]
	g.mu.Unlock()
	if first != (client.Gap{Subject: "lab.test.idle", Epoch: 5, From: 1, To: 1, Local: true}) {
		t.Fatalf("first local gap %+v", first)
	}
	// The channel holds the newest events.
	kept := collect(t, idle, buffer, time.Second)
	for i, ev := range kept {
		if want := uint64(n - buffer + 1 + i); ev.Seq != want {
			t.Fatalf("kept event %d has seq %d, want %d", i, ev.Seq, want)
		}
	}
	st := s.Hub().Stats()
	if st.Dropped != 0 || st.Disconnects[fanout.ReasonSlowConsumer] != 0 {
		t.Fatalf("the hub had to drop (%d) or disconnect (%d)", st.Dropped, st.Disconnects[fanout.ReasonSlowConsumer])
	}
	if c.State() != client.StateConnected {
		t.Fatalf("state %v", c.State())
	}
}

// Overlapping patterns make the hub send a message once per pattern; each
// subscription still sees each message once.
func TestOverlappingPatternsDeliverOnce(t *testing.T) {
	s := startHub(t, nil)
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
	s := startHub(t, fastDemo)
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
	waitFor(t, "the hub to see the client leave", 5*time.Second, func() bool { return s.Hub().NumClients() == 0 })

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

// The typed payloads have exactly the fields of the demo feeds' types.
func TestPayloadTypesMatchUpstream(t *testing.T) {
	pairs := [][2]any{{client.Tick{}, upstream.Tick{}}, {client.Block{}, upstream.Block{}}, {client.Transfer{}, upstream.Transfer{}},
		{client.Reorg{}, upstream.Reorg{}}, {client.JobProgress{}, upstream.JobProgress{}}}
	for _, p := range pairs {
		a, b := reflect.TypeOf(p[0]), reflect.TypeOf(p[1])
		if a.NumField() != b.NumField() {
			t.Fatalf("%v has %d fields, %v %d", a, a.NumField(), b, b.NumField())
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name || fa.Type != fb.Type || fa.Tag != fb.Tag {
				t.Fatalf("%v.%s %v %q differs from %v.%s %v %q", a, fa.Name, fa.Type, fa.Tag, b, fb.Name, fb.Type, fb.Tag)
			}
		}
	}
}
