package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
)

func openUsage(t *testing.T, url string) *Usage {
	t.Helper()
	u, err := OpenUsage(ctxT(t), connectJS(t, url), UsageConfig{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close(context.Background()) })
	return u
}

// Two hubs count one key's use and flush concurrently, again and again:
// the bucket holds the exact sum, nothing lost to a revision conflict, and
// the latest use.
func TestUsageFlushesSumAcrossHubs(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	hubs := []*Usage{openUsage(t, url), openUsage(t, url)}
	const id, rounds = "AAAAAAAAAAAA", 20
	var wg sync.WaitGroup
	for _, u := range hubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := u.Key(id)
			for range rounds {
				k.Connected()
				k.Subscribed(2)
				k.Delivered(10, 1000)
				k.Published(3)
				if err := u.Flush(ctxT(t)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := ReadUsage(ctxT(t), connectJS(t, url), "", id)
	if err != nil {
		t.Fatal(err)
	}
	want := UsageCounts{Connections: 2 * rounds, Subscriptions: 4 * rounds, Messages: 20 * rounds,
		Bytes: 2000 * rounds, Publishes: 6 * rounds}
	last := hubs[0].Key(id).Counts().LastUsed
	if l := hubs[1].Key(id).Counts().LastUsed; l.After(last) {
		last = l
	}
	want.LastUsed = got.LastUsed
	if got != want || !got.LastUsed.Equal(last) {
		t.Fatalf("totals %+v, want %+v (last use %v)", got, want, last)
	}
	// A flush with nothing new writes nothing; Close flushes the rest.
	hubs[0].Key(id).Delivered(1, 1)
	hubs[0].Close(ctxT(t))
	if got, _ := ReadUsage(ctxT(t), connectJS(t, url), "", id); got.Messages != want.Messages+1 {
		t.Fatalf("after Close: %d messages, want %d", got.Messages, want.Messages+1)
	}
	if got, err := ReadUsage(ctxT(t), connectJS(t, url), "", "BBBBBBBBBBBB"); err != nil || got != (UsageCounts{}) {
		t.Fatalf("unused key: %+v, %v", got, err)
	}
	if _, err := ReadUsage(ctxT(t), connectJS(t, url), "", "no.such"); err == nil {
		t.Fatal("a malformed id was read")
	}
}
