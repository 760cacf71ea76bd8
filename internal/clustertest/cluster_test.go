package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Log lines of the hub the tests wait for (internal/bus/conn.go).
const (
	logDisconnected = "bus: disconnected from NATS"
	logReconnected  = "bus: reconnected to NATS"
)

// dumpOnFailure logs the processes' output when the test failed.
func dumpOnFailure(t *testing.T, c *Cluster, hubs ...*Hub) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c.Dump()
		for _, h := range hubs {
			t.Logf("=== output of %s:\n%s", h.name, tail(h.Output(), 6000))
		}
	})
}

// afterMove lets 50 more job events be acknowledged, so that the check
// covers jobs published after the fault too.
func afterMove(t *testing.T, pub *jobPublisher) {
	t.Helper()
	acked := pub.Acked()
	testsupport.WaitFor(t, "50 more job events acknowledged", 60*time.Second, func() bool { return pub.Acked() >= acked+50 })
}

// waitNotice waits until every user's tick subscription was told, through
// OnRecovered(false), that ticks may have been missed, and until each has
// received a tick of a new epoch since.
func waitNotice(t *testing.T, users []*user, timeout time.Duration) {
	t.Helper()
	testsupport.WaitFor(t, "every tick subscriber told in-band and in a new epoch", timeout, func() bool {
		for _, u := range users {
			u.mu.Lock()
			ok := slices.Contains(u.recovered, "ticks.c.>=false") && len(u.epochs) >= 2
			u.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
	for i, u := range users {
		for _, r := range u.recoveries() {
			if strings.HasPrefix(r, "jobs.") {
				t.Errorf("user %d: job subscription reported %s: the hub's NATS reconnect must not touch it", i, r)
			}
		}
	}
}

// onNode1 starts a cluster and a hub given node n1's URL only (it learns
// the others from the cluster), publishers of jobs and ticks connected to
// the other nodes, and users of both on the hub, and watches the hub's
// readiness.
func onNode1(t *testing.T, users int) (*Node, *Hub, *jobPublisher, []*user, *readiness) {
	t.Helper()
	c := StartCluster(t, bins)
	n1 := c.Nodes[0]
	hub := StartHub(t, bins, "a", n1.URL(), "--stream-replicas", "3", "--insecure-no-auth")
	dumpOnFailure(t, c, hub)
	nc, js := natsJS(t, c.Nodes[1].URL()+","+c.Nodes[2].URL())
	pub := startJobs(t, js, 20*time.Millisecond)
	startTicks(t, nc, 10*time.Millisecond)
	us := startUsers(t, users, []string{hub.WSURL()}, false, true)
	waitStarted(t, us, true)
	return n1, hub, pub, us, watchReady(t, hub)
}

// 1. The NATS node a hub is connected to is killed. The hub was given that
// node's URL only: it learned the others from the cluster and moves to one
// of them within 2 s. Tick subscribers are told in-band (notice, new
// epoch); job subscribers lose nothing; /readyz is ready again after.
func TestNATSNodeKilled(t *testing.T) {
	n1, hub, pub, users, ready := onNode1(t, 20)

	before := hub.Count(logReconnected)
	killed := time.Now()
	n1.Kill()
	took := hub.WaitLog(logReconnected, before, 10*time.Second).Sub(killed)
	t.Logf("NATS node killed: the hub reconnected to another node after %v", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("reconnect took %v, want within 2 s", took)
	}
	waitNotice(t, users, 20*time.Second)
	t.Logf("every tick subscriber was told (upstream_reconnected) %v after the kill", time.Since(killed).Round(time.Millisecond))
	testsupport.WaitFor(t, "ready again", 10*time.Second, func() bool { return hub.Ready() == http.StatusOK })
	unready, seen := ready.unready(killed)
	t.Logf("readiness: unready for %v after the kill (observed by a 10 ms poll: %v)", unready.Round(time.Millisecond), seen)
	afterMove(t, pub)
	checkJobs(t, pub, users)
}

// 2. The NATS node a hub is connected to freezes (SIGSTOP): its sockets
// stay open and it answers nothing. The hub notices within 3.5 s, moves to
// another node, and is unready meanwhile.
func TestNATSNodeHung(t *testing.T) {
	n1, hub, pub, users, ready := onNode1(t, 10)

	lost, back := hub.Count(logDisconnected), hub.Count(logReconnected)
	frozen := time.Now()
	n1.Freeze()
	detected := hub.WaitLog(logDisconnected, lost, 15*time.Second).Sub(frozen)
	t.Logf("NATS node frozen: the hub declared it stale after %v", detected.Round(time.Millisecond))
	if detected > 3500*time.Millisecond {
		t.Errorf("hung node detected after %v, want within 3.5 s", detected)
	}
	moved := hub.WaitLog(logReconnected, back, 15*time.Second).Sub(frozen)
	t.Logf("…and was on another node %v after the freeze", moved.Round(time.Millisecond))
	waitNotice(t, users, 20*time.Second)
	testsupport.WaitFor(t, "ready again", 10*time.Second, func() bool { return hub.Ready() == http.StatusOK })
	unready, seen := ready.unready(frozen)
	t.Logf("readiness: unready for %v during the freeze", unready.Round(time.Millisecond))
	if !seen {
		t.Errorf("/readyz never left 200 while the hub's NATS node was frozen")
	}
	n1.Thaw()
	afterMove(t, pub)
	checkJobs(t, pub, users)
}

// twoHubs starts a cluster, hubs a and b on it, a publisher of jobs, and
// users of jobs who know both hubs: a first, or with spread every other
// user b first.
func twoHubs(t *testing.T, users int, spread bool) (a, b *Hub, pub *jobPublisher, us []*user) {
	t.Helper()
	c := StartCluster(t, bins)
	a = StartHub(t, bins, "a", c.URLs(), "--stream-replicas", "3", "--insecure-no-auth")
	b = StartHub(t, bins, "b", c.URLs(), "--stream-replicas", "3", "--insecure-no-auth")
	dumpOnFailure(t, c, a, b)
	_, js := natsJS(t, c.URLs())
	pub = startJobs(t, js, 20*time.Millisecond)
	us = startUsers(t, users, []string{a.WSURL(), b.WSURL()}, spread, false)
	waitStarted(t, us, false)
	return a, b, pub, us
}

// 3. A hub with Go clients on it is SIGKILLed. Every client moves to the
// other hub and resumes with recovered:true; none misses or repeats a job
// event.
func TestHubKilled(t *testing.T) {
	const clients = 200
	a, _, pub, users := twoHubs(t, clients, false)

	killed := time.Now()
	a.Kill()
	testsupport.WaitFor(t, "every client resumed on hub b", 60*time.Second, func() bool {
		for _, u := range users {
			if len(u.recoveries()) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("hub killed: all %d clients resumed on the other hub within %v", clients, time.Since(killed).Round(time.Millisecond))
	for i, u := range users {
		if r := u.recoveries(); !slices.Equal(r, []string{"jobs.t1.>=true"}) {
			t.Errorf("user %d: recoveries %v, want one recovered:true", i, r)
		}
	}
	afterMove(t, pub)
	checkJobs(t, pub, users)
}

// 4. The JetStream leader of the JOBS stream is killed while jobs are
// published with acknowledged publishes and message ids: after the
// election, publishing goes on and a subscriber sees every job event
// exactly once.
func TestStreamLeaderKilled(t *testing.T) {
	c := StartCluster(t, bins)
	hub := StartHub(t, bins, "a", c.URLs(), "--stream-replicas", "3", "--insecure-no-auth")
	dumpOnFailure(t, c, hub)
	_, js := natsJS(t, c.URLs())
	pub := startJobs(t, js, 10*time.Millisecond)
	users := startUsers(t, 5, []string{hub.WSURL()}, false, false)
	waitStarted(t, users, false)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "JOBS")
	if err != nil {
		t.Fatal(err)
	}
	info := s.CachedInfo()
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("JOBS: %d replicas, cluster %+v; want 3 with a leader", info.Config.Replicas, info.Cluster)
	}
	leader := c.Node(info.Cluster.Leader)
	acked := pub.Acked()
	killed := time.Now()
	leader.Kill()
	testsupport.WaitFor(t, "jobs acknowledged again after the leader's death", 60*time.Second, func() bool { return pub.Acked() >= acked+50 })
	t.Logf("JOBS leader %s killed: 50 more publishes acknowledged %v later", leader.Name, time.Since(killed).Round(time.Millisecond))
	checkJobs(t, pub, users)
}

// 5. A key revoked through NATS (as hub keys revoke does, from anywhere)
// closes its connections on every hub within a second.
func TestRevocationAcrossHubs(t *testing.T) {
	c := StartCluster(t, bins)
	a := StartHub(t, bins, "a", c.URLs(), "--stream-replicas", "3")
	b := StartHub(t, bins, "b", c.URLs(), "--stream-replicas", "3")
	dumpOnFailure(t, c, a, b)
	_, js := natsJS(t, c.URLs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := auth.OpenStore(ctx, js, auth.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for round := range 3 {
		key, rec, err := store.Create(ctx, auth.CreateRequest{Name: fmt.Sprintf("revoke-%d", round), Subscribe: []string{"ticks.>"}})
		if err != nil {
			t.Fatal(err)
		}
		var conns []*client.Client
		for _, h := range []*Hub{a, b} {
			// The new key reaches each hub's view through its key-bucket
			// watch, moments after its creation.
			var cl *client.Client
			testsupport.WaitFor(t, "the new key accepted by hub "+h.Name, 10*time.Second, func() bool {
				cl, err = client.Dial(ctx, h.WSURL(), key.Reveal(), nil)
				return err == nil
			})
			defer cl.Close()
			conns = append(conns, cl)
		}
		revoked := time.Now()
		if _, err := store.Revoke(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		for i, cl := range conns {
			select {
			case <-cl.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: the connection on hub %d still open 10 s after the revocation", round, i)
			}
			took := time.Since(revoked)
			var ce *client.CloseError
			if !errors.As(cl.Err(), &ce) || ce.Code != 4504 {
				t.Errorf("round %d: hub %d closed with %v, want 4504 key_revoked", round, i, cl.Err())
			}
			t.Logf("round %d: revoked key's connection on hub %s closed after %v", round, []string{"a", "b"}[i], took.Round(time.Millisecond))
			if took > time.Second {
				t.Errorf("round %d: revocation reached hub %d after %v, want within 1 s", round, i, took)
			}
		}
	}
}

// 6. Each hub in turn gets SIGTERM under load and is started again: its
// clients receive 4000 and move to the other hub, and none loses or
// repeats a job event.
func TestRollingRestart(t *testing.T) {
	const clients = 100
	a, b, pub, users := twoHubs(t, clients, true)

	for _, h := range []*Hub{a, b} {
		moved := 0
		for _, u := range users {
			moved += len(u.recoveries())
		}
		term := time.Now()
		h.Term(30 * time.Second)
		stopped := time.Since(term)
		testsupport.WaitFor(t, "half the clients resumed elsewhere", 60*time.Second, func() bool {
			n := 0
			for _, u := range users {
				n += len(u.recoveries())
			}
			return n >= moved+clients/2
		})
		t.Logf("hub %s: SIGTERM to exit %v; its clients resumed on the other hub within %v", h.Name, stopped.Round(time.Millisecond),
			time.Since(term).Round(time.Millisecond))
		h.Start()
	}
	fours := 0
	for i, u := range users {
		codes := u.codes.list()
		if slices.Contains(codes, 4000) {
			fours++
		}
		for _, r := range u.recoveries() {
			if r != "jobs.t1.>=true" {
				t.Errorf("user %d: %s, want every resume recovered", i, r)
			}
		}
	}
	t.Logf("%d of %d clients were closed with 4000 (going away) at least once", fours, clients)
	if fours < clients {
		t.Errorf("%d clients closed with 4000, want all %d", fours, clients)
	}
	afterMove(t, pub)
	checkJobs(t, pub, users)
}
