package protocol

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/streamhub/streamhub/internal/subject"
)

func TestSSEEventIDRoundTrip(t *testing.T) {
	pos := []ResumePosition{{Subject: "jobs.acme.>", Epoch: 1732712000, Seq: 57}, {Subject: "chain.*.block", Epoch: 1, Seq: 1<<64 - 1}}
	id := string(AppendSSEEventID(nil, pos))
	if id != "jobs.acme.> 1732712000 57 chain.*.block 1 18446744073709551615" {
		t.Fatalf("id %q", id)
	}
	got, err := ParseSSEEventID(id)
	if err != nil || !reflect.DeepEqual(got, pos) {
		t.Fatalf("parsed %v, %v; want %v", got, err, pos)
	}
	for _, bad := range []string{"a.b 1", "a..b 1 2", "a.b 1 -2", "a.b  1 2", "a.b 1 2 ", " a.b 1 2"} {
		if _, err := ParseSSEEventID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecodeSSEQuery(t *testing.T) {
	q := url.Values{"subjects": {"ticks.>,chain.eth.block", "jobs.a.>"}, "policy": {"keep-latest"}, "max_rate": {"2.5"}, "snapshot": {"true"}}
	c, e := DecodeSSEQuery(q, "jobs.a.> 3 9")
	if e != nil {
		t.Fatal(e)
	}
	want := Command{Op: OpSubscribe, Subjects: []string{"ticks.>", "chain.eth.block", "jobs.a.>"}, Policy: KeepLatest, MaxRate: 2.5, Snapshot: true,
		Resume: []ResumePosition{{Subject: "jobs.a.>", Epoch: 3, Seq: 9}}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

// FuzzParseSSEEventID: the Last-Event-ID parser never panics, accepts only
// bounded lists of valid patterns, and what it accepts round-trips.
func FuzzParseSSEEventID(f *testing.F) {
	for _, s := range []string{"jobs.acme.> 1 2", "a 1 2 b.* 3 4", "", "a", "a 1 x", "> 0 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := ParseSSEEventID(s)
		if err != nil {
			return
		}
		if len(pos) > MaxSubjectsPerCommand {
			t.Fatalf("accepted %d positions", len(pos))
		}
		for _, p := range pos {
			if subject.ValidatePattern(p.Subject) != nil {
				t.Fatalf("accepted pattern %q", p.Subject)
			}
		}
		again, err := ParseSSEEventID(string(AppendSSEEventID(nil, pos)))
		if err != nil || !reflect.DeepEqual(again, pos) {
			t.Fatalf("%q does not round-trip: %v %v", s, again, err)
		}
	})
}

// FuzzDecodeSSEQuery: any query and Last-Event-ID give a valid subscribe
// or an error, never a panic.
func FuzzDecodeSSEQuery(f *testing.F) {
	for _, s := range []string{"subjects=ticks.>&policy=drop-oldest", "subjects=a,b&max_rate=NaN", "subjects=&snapshot=1", "subjects=%ff"} {
		f.Add(s, "a 1 2")
	}
	f.Fuzz(func(t *testing.T, query, lastID string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		c, e := DecodeSSEQuery(q, lastID)
		if e != nil {
			return
		}
		checkDecoded(t, EncodingJSON, c)
	})
}
