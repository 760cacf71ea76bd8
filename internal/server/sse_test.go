package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

func seqsOf(evs []protocol.EventFrame) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func untilSeq(last uint64) func([]protocol.EventFrame) bool {
	return func(e []protocol.EventFrame) bool { return len(e) > 0 && e[len(e)-1].Seq >= last }
}

// An SSE stream delivers live messages; its event ids are resume positions,
// and a reconnect with Last-Event-ID gets exactly what it missed, with
// "recovered":true, as a WebSocket resume does.
func TestSSELastEventIDResumesExactlyOnce(t *testing.T) {
	s := startHub(t, nil)
	pub := newJobPublisher(t, s)
	c := mustOpenSSE(t, s, "subjects=jobs.acme.>&policy=drop-oldest", nil)
	if ans := c.answer(10 * time.Second); ans.Op != protocol.OpOK || ans.Recovered != nil {
		t.Fatalf("answer %+v, want a plain ok", ans)
	}
	waitPatterns(t, s, "jobs.acme.>")
	for i := range 10 {
		pub.publish(fmt.Sprintf("jobs.acme.j_%d", i%3), i)
	}
	published := pub.published()
	before := c.collect(10*time.Second, untilSeq(published[len(published)-1]))
	last := before[len(before)-1]
	if want := fmt.Sprintf("jobs.acme.> %d %d", last.Epoch, last.Seq); c.lastID != want {
		t.Fatalf("last event id %q, want %q", c.lastID, want)
	}
	c.close()

	for i := 10; i < 25; i++ {
		pub.publish(fmt.Sprintf("jobs.acme.j_%d", i%3), i)
	}
	published = pub.published()
	r := mustOpenSSE(t, s, "subjects=jobs.acme.>&policy=drop-oldest", http.Header{"Last-Event-Id": {c.lastID}})
	ans := r.answer(10 * time.Second)
	if ans.Op != protocol.OpOK || ans.Recovered == nil || !*ans.Recovered {
		t.Fatalf("answer to the resume %+v, want ok with recovered:true", ans)
	}
	after := r.collect(10*time.Second, untilSeq(published[len(published)-1]))
	checkExactlyOnce(t, before, after, published)
}

// A Last-Event-ID that cannot be honoured (another epoch: the stream was
// recreated) gets the current values and "recovered":false rather than an
// error an EventSource would reconnect into forever.
func TestSSEResumeThatCannotBeHonouredTakesASnapshot(t *testing.T) {
	s := startHub(t, nil)
	pub := newJobPublisher(t, s)
	for i := range 6 {
		pub.publish(fmt.Sprintf("jobs.acme.j_%d", i%3), i)
	}
	c := mustOpenSSE(t, s, "subjects=jobs.acme.>", http.Header{"Last-Event-Id": {"jobs.acme.> 1 1"}})
	ans := c.answer(10 * time.Second)
	if ans.Op != protocol.OpOK || ans.Recovered == nil || *ans.Recovered {
		t.Fatalf("answer %+v, want ok with recovered:false", ans)
	}
	evs := c.collect(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 3 })
	for _, e := range evs[:3] {
		if !e.Snapshot {
			t.Fatalf("event %+v is not a snapshot event", e)
		}
	}
	if got := subjectsOf(evs[:3]); len(got) != 3 {
		t.Fatalf("snapshot subjects %v, want the 3 jobs", got)
	}
}

// Bad queries and bad Last-Event-IDs are refused before the stream starts,
// with the codes a subscribe frame would get.
func TestSSERefusesBadRequestsWithHTTPErrors(t *testing.T) {
	s := startHub(t, nil)
	for _, tc := range []struct {
		query, lastID string
		code          protocol.ErrorCode
	}{
		{"", "", protocol.CodeBadRequest},
		{"subjects=chain..block", "", protocol.CodeInvalidSubject},
		{"subjects=ticks.>&max_rate=fast", "", protocol.CodeInvalidOption},
		{"subjects=ticks.>&policy=drop-oldest&max_rate=5", "", protocol.CodeInvalidOption},
		{"subjects=ticks.>&snapshot=maybe", "", protocol.CodeInvalidOption},
		{"subjects=$JS.API.>", "", protocol.CodeInvalidSubject},
		{"subjects=ticks.>", "ticks.> 1", protocol.CodeBadRequest},
		{"subjects=ticks.>", "ticks.> one 2", protocol.CodeBadRequest},
	} {
		h := http.Header{}
		if tc.lastID != "" {
			h.Set("Last-Event-ID", tc.lastID)
		}
		status, _, body := openSSE(t, s, tc.query, h)
		var e protocol.HTTPError
		_ = json.Unmarshal([]byte(body), &e)
		if status != http.StatusBadRequest || e.Code != tc.code {
			t.Errorf("query %q Last-Event-ID %q: %d %s, want 400 %s", tc.query, tc.lastID, status, body, tc.code)
		}
	}
}

// Heartbeats are SSE comments, and the stream outlives the server's
// ReadTimeout (net/http would otherwise cancel the request at it).
func TestSSEHeartbeatsAreCommentsAndOutliveTheReadTimeout(t *testing.T) {
	s := startHub(t, func(c *Config) {
		c.ReadTimeout = 500 * time.Millisecond
		c.Gateway.Heartbeat = 200 * time.Millisecond
	})
	c := mustOpenSSE(t, s, "subjects=ticks.>", nil)
	c.answer(10 * time.Second)
	start := time.Now()
	pings := 0
	for time.Since(start) < 1500*time.Millisecond {
		ev := c.next(10 * time.Second)
		if strings.HasPrefix(ev.Comment, "ping ") {
			pings++
		}
	}
	if pings < 2 {
		t.Fatalf("%d heartbeat comments in 1.5 s with a 200 ms heartbeat", pings)
	}
}

// A hub shutting down ends every stream with a close event carrying 4000
// (reconnect elsewhere), then ends the response.
func TestSSEShutdownSendsACloseEvent(t *testing.T) {
	s := startHub(t, nil)
	c := mustOpenSSE(t, s, "subjects=ticks.>", nil)
	c.answer(10 * time.Second)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	if cl := c.awaitClose(15 * time.Second); cl.Code != int(protocol.CloseShutdown) || cl.Reason != "shutdown" {
		t.Fatalf("close event %+v, want 4000 shutdown", cl)
	}
}

// A slow SSE client is closed as a slow WebSocket client is: it reads on,
// slowly, and sees the close event with 4001.
func TestSSESlowConsumerGetsACloseEvent(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Fanout.MaxQueueBytes = 256 << 10 })
	resp, cancel := getSSE(t, s, "subjects=chain.test.>&policy=disconnect")
	defer cancel()
	defer resp.Body.Close()
	waitPatterns(t, s, "chain.test.>")
	got := make(chan string, 1)
	go func() {
		var tail []byte
		buf := make([]byte, 64<<10)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			// 64 KiB every 50 ms, as the WebSocket test's reader takes
			// one 64 KiB frame (a chunked body reads in pieces of 4 KiB).
			n, err := io.ReadAtLeast(resp.Body, buf, len(buf))
			tail = append(tail, buf[:n]...)
			if i := bytes.Index(tail, []byte("event: close\ndata: ")); i >= 0 {
				line, _, _ := bytes.Cut(tail[i+len("event: close\ndata: "):], []byte("\n"))
				got <- string(line)
				return
			}
			if len(tail) > 1<<10 {
				tail = tail[len(tail)-1<<10:]
			}
			if err != nil {
				got <- "stream ended without a close event: " + err.Error()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		got <- "timeout"
	}()
	floodChain(t, s, "chain.test.big", 600, 64<<10, 5*time.Millisecond)
	line := <-got
	var cl sseClose
	if err := json.Unmarshal([]byte(line), &cl); err != nil || cl.Code != int(protocol.CloseSlowConsumer) {
		t.Fatalf("close event %q, want 4001 slow_consumer", line)
	}
	if n := s.Hub().Stats().Disconnects[fanout.ReasonSlowConsumer]; n != 1 {
		t.Fatalf("%d slow-consumer disconnects counted, want 1", n)
	}
}

// SSE takes the hub's credentials: a Bearer API key or browser token, or a
// single-use ticket in the URL; scopes apply; a revoked key's stream ends
// with 4504.
func TestSSEAuthentication(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	secret, rec := env.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.>"}})

	expect := func(what string, status int, code protocol.ErrorCode, query string, h http.Header) {
		t.Helper()
		got, _, body := openSSE(t, s, query, h)
		var e protocol.HTTPError
		_ = json.Unmarshal([]byte(body), &e)
		if got != status || e.Code != code {
			t.Errorf("%s: %d %s, want %d %s", what, got, body, status, code)
		}
	}
	expect("no credentials", http.StatusUnauthorized, protocol.CodeAuthRequired, "subjects=jobs.>", nil)
	expect("a bad key", http.StatusUnauthorized, protocol.CodeAuthRequired, "subjects=jobs.>", bearerHeader("sk_test_nope"))
	expect("outside the scope", http.StatusForbidden, protocol.CodeForbidden, "subjects=ticks.>", bearerHeader(secret))

	mustOpenSSE(t, s, "subjects=jobs.>", bearerHeader(secret)).close()
	tok := env.token(t, s, secret, `{"subscribe":["jobs.acme.>"]}`)
	mustOpenSSE(t, s, "subjects=jobs.acme.>", bearerHeader(tok.Token)).close()
	expect("outside the token's scope", http.StatusForbidden, protocol.CodeForbidden, "subjects=jobs.>", bearerHeader(tok.Token))

	ticket := func(cred string) string {
		t.Helper()
		status, raw := postAPI(t, s, "/v1/sse/tickets", cred, "")
		var tr ticketResponse
		if err := json.Unmarshal(raw, &tr); status != http.StatusOK || err != nil || tr.Ticket == "" {
			t.Fatalf("POST /v1/sse/tickets: %d %s", status, raw)
		}
		if left := time.Until(time.UnixMilli(tr.ExpiresAt)); left > TicketTTL || left < TicketTTL/2 {
			t.Fatalf("ticket expires in %v, want about %v", left, TicketTTL)
		}
		return env.remember(tr.Ticket)
	}
	if status, _ := postAPI(t, s, "/v1/sse/tickets", "", ""); status != http.StatusUnauthorized {
		t.Errorf("a ticket without credentials: %d, want 401", status)
	}
	tk := ticket(tok.Token)
	c := mustOpenSSE(t, s, "subjects=jobs.acme.>&ticket="+tk, nil)
	expect("a used ticket", http.StatusUnauthorized, protocol.CodeAuthRequired, "subjects=jobs.acme.>&ticket="+tk, nil)
	expect("a made-up ticket", http.StatusUnauthorized, protocol.CodeAuthRequired, "subjects=jobs.acme.>&ticket=sht_x", nil)
	expect("a ticket outside its token's scope", http.StatusForbidden, protocol.CodeForbidden, "subjects=jobs.>&ticket="+ticket(tok.Token), nil)
	c.answer(10 * time.Second)

	revoke(t, s, rec.ID)
	if cl := c.awaitClose(15 * time.Second); cl.Code != int(protocol.CloseKeyRevoked) {
		t.Fatalf("close event %+v after revoking the key, want 4504", cl)
	}
}

// Tickets are single-use across hub instances: the KV bucket, not the
// instance, decides, so two concurrent redemptions give one stream.
func TestSSETicketRedeemsOnceUnderConcurrency(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	secret, _ := env.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.>"}})
	status, raw := postAPI(t, s, "/v1/sse/tickets", secret, "")
	var tr ticketResponse
	if err := json.Unmarshal(raw, &tr); status != http.StatusOK || err != nil {
		t.Fatalf("POST /v1/sse/tickets: %d %s", status, raw)
	}
	env.remember(tr.Ticket)
	const n = 4
	results := make(chan int, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr()+"/v1/sse?subjects=jobs.>&ticket="+tr.Ticket, nil)
			req.Close = true
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- -1
				return
			}
			results <- resp.StatusCode
			cancel() // ends the stream of the one that won
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}()
	}
	var got []int
	for range n {
		got = append(got, <-results)
	}
	slices.Sort(got)
	if want := []int{200, 401, 401, 401}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}

// Ticks are at most once: a Last-Event-ID on them is answered as a
// WebSocket resume on ticks is, "recovered":false with the current values.
func TestSSEResumeOnTicksGivesTheSnapshot(t *testing.T) {
	s := startHub(t, nil)
	nc := natsPublisher(t, s)
	c := mustOpenSSE(t, s, "subjects=ticks.z.>", nil)
	c.answer(10 * time.Second)
	waitPatterns(t, s, "ticks.z.>")
	for _, p := range []string{"1", "2", "3"} {
		if err := nc.Publish("ticks.z.A", []byte(`{"price":"`+p+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	evs := c.collect(10*time.Second, func(e []protocol.EventFrame) bool {
		return len(e) > 0 && strings.Contains(string(e[len(e)-1].Data), `"3"`)
	})
	last := evs[len(evs)-1]
	c.close()
	testsupport.WaitFor(t, "the last tick stored for snapshots", 10*time.Second, func() bool {
		status, _ := doAPI(t, s, http.MethodGet, "/v1/last/ticks.z.A", nil, nil)
		return status == http.StatusOK
	})
	r := mustOpenSSE(t, s, "subjects=ticks.z.>", http.Header{"Last-Event-Id": {fmt.Sprintf("ticks.z.> %d %d", last.Epoch, last.Seq)}})
	ans := r.answer(10 * time.Second)
	if ans.Op != protocol.OpOK || ans.Recovered == nil || *ans.Recovered {
		t.Fatalf("answer %+v, want ok with recovered:false", ans)
	}
	snap := r.collect(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
	if !snap[0].Snapshot || !strings.Contains(string(snap[0].Data), `"3"`) {
		t.Fatalf("first event after the resume %+v, want the current value as a snapshot", snap[0])
	}
}

// getSSE opens a stream without reading it: the test decides when and how.
func getSSE(t *testing.T, s *Server, query string) (*http.Response, context.CancelFunc) {
	t.Helper()
	resp, cancel := requestSSE(t, s, query, nil)
	if resp.StatusCode != http.StatusOK {
		cancel()
		_ = resp.Body.Close()
		t.Fatalf("GET /v1/sse?%s: %d", query, resp.StatusCode)
	}
	return resp, cancel
}

// A drop-oldest stream that falls behind gets gap notices in its batches,
// as a WebSocket does: every message published is either delivered or
// inside an announced gap, in order.
func TestSSEDropOldestAnnouncesGaps(t *testing.T) {
	s := startHub(t, func(c *Config) {
		c.Fanout.MaxQueueMessages = 4
		c.Fanout.WriteTimeout = 60 * time.Second
	})
	resp, cancel := getSSE(t, s, "subjects=chain.test.>&policy=drop-oldest")
	waitPatterns(t, s, "chain.test.>")
	// Nothing reads the stream while 200 messages of 64 KiB (more than the
	// socket buffers hold) are published: the queue of 4 overflows.
	floodChain(t, s, "chain.test.big", 200, 64<<10, 0)
	last := lastSeq(t, s, "CHAIN")
	c := newSSEClient(t, resp, cancel)
	var gaps []protocol.GapNotice
	var seqs []uint64
	deadline := time.Now().Add(30 * time.Second)
	for len(seqs) == 0 || seqs[len(seqs)-1] < last {
		ev := c.next(time.Until(deadline))
		if ev.Event != "batch" {
			continue
		}
		m := c.frame(ev)
		gaps = append(gaps, m.Gaps...)
		for _, e := range m.Events {
			seqs = append(seqs, e.Seq)
		}
	}
	if len(gaps) == 0 {
		t.Fatalf("%d of %d messages delivered and no gap announced", len(seqs), last)
	}
	covered := map[uint64]bool{}
	for _, g := range gaps {
		for q := g.From; q <= g.To; q++ {
			covered[q] = true
		}
	}
	for _, q := range seqs {
		if covered[q] {
			t.Fatalf("seq %d both delivered and announced as dropped", q)
		}
		covered[q] = true
	}
	first := seqs[0]
	for _, g := range gaps {
		first = min(first, g.From)
	}
	for q := first; q <= last; q++ {
		if !covered[q] {
			t.Fatalf("seq %d neither delivered nor in a gap (%d delivered, %d gaps)", q, len(seqs), len(gaps))
		}
	}
	if !slices.IsSorted(seqs) {
		t.Fatal("deliveries out of order")
	}
	t.Logf("%d delivered, %d gap notices", len(seqs), len(gaps))
}
