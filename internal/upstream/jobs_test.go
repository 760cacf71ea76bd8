package upstream

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

var jobIDRE = regexp.MustCompile(`^j_[0-9a-z]{10}$`)

var stageRank = map[string]int{
	StageQueued: 0, StageLoading: 1, StageTokenizing: 2, StageInference: 3,
	StagePostprocess: 4, StageDone: 5, StageFailed: 5,
}

// jobChecker replays job events in order and fails on any broken rule.
type jobChecker struct {
	t          *testing.T
	tenants    []string
	concurrent int
	last       map[string]JobProgress // last event per job subject
	finished   map[string]bool
	live       int
	maxLive    int
	done       int
	failed     int
}

func newJobChecker(t *testing.T, tenants []string, concurrent int) *jobChecker {
	return &jobChecker{t: t, tenants: tenants, concurrent: concurrent,
		last: map[string]JobProgress{}, finished: map[string]bool{}}
}

func (c *jobChecker) check(m received) {
	t := c.t
	var ev JobProgress
	mustUnmarshal(t, m, &ev)
	if m.subject != "jobs."+ev.Tenant+"."+ev.JobID || !jobIDRE.MatchString(ev.JobID) ||
		!slices.Contains(c.tenants, ev.Tenant) || ev.Model == "" || ev.TS != headerInt(t, m, headerTs) {
		t.Fatalf("bad job event on %s: %s", m.subject, m.data)
	}
	if c.finished[m.subject] {
		t.Fatalf("event after the terminal one on %s: %s", m.subject, m.data)
	}
	terminal := ev.State == JobDone || ev.State == JobFailed
	if critical := m.hdr.Get(headerCritical) == "1"; critical != terminal {
		t.Fatalf("%s: Sh-Critical %q on a %s event", m.subject, m.hdr.Get(headerCritical), ev.State)
	}
	if _, rank := stageRank[ev.Stage]; !rank {
		t.Fatalf("unknown stage: %s", m.data)
	}
	switch ev.State {
	case JobQueued:
		if ev.Stage != StageQueued || ev.Percent != 0 {
			t.Fatalf("bad queued event: %s", m.data)
		}
	case JobRunning:
		if ev.Stage == StageQueued || ev.Stage == StageDone || ev.Stage == StageFailed || ev.Percent <= 0 || ev.Percent >= 100 {
			t.Fatalf("bad running event: %s", m.data)
		}
	case JobDone:
		if ev.Stage != StageDone || ev.Percent != 100 || ev.Error != "" || ev.ETAMs != 0 {
			t.Fatalf("bad done event: %s", m.data)
		}
		c.done++
	case JobFailed:
		if ev.Stage != StageFailed || ev.Error == "" || ev.ETAMs != 0 {
			t.Fatalf("bad failed event: %s", m.data)
		}
		c.failed++
	default:
		t.Fatalf("unknown state: %s", m.data)
	}
	if ev.State != JobFailed && ev.Error != "" {
		t.Fatalf("error on a %s event: %s", ev.State, m.data)
	}
	prev, seen := c.last[m.subject]
	switch {
	case !seen:
		if ev.State != JobQueued {
			t.Fatalf("job %s starts with %s, want queued", ev.JobID, ev.State)
		}
		c.live++
		c.maxLive = max(c.maxLive, c.live)
	case ev.Percent < prev.Percent || (ev.State == JobRunning && prev.State == JobRunning && ev.Percent == prev.Percent):
		t.Fatalf("job %s: percent %v after %v", ev.JobID, ev.Percent, prev.Percent)
	case ev.ETAMs >= prev.ETAMs:
		t.Fatalf("job %s: eta %d ms after %d ms", ev.JobID, ev.ETAMs, prev.ETAMs)
	case stageRank[ev.Stage] < stageRank[prev.Stage]:
		t.Fatalf("job %s: stage %s after %s", ev.JobID, ev.Stage, prev.Stage)
	}
	c.last[m.subject] = ev
	if terminal {
		c.finished[m.subject] = true
		delete(c.last, m.subject)
		c.live--
	}
	if c.live > c.concurrent {
		t.Fatalf("%d live jobs, want at most %d", c.live, c.concurrent)
	}
}

func TestJobsLifecycle(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	rec := record(t, connect(t, url), "jobs.>")
	tenants := []string{"acme", "globex", "initech"}
	f := NewJobFeed(connect(t, url), Config{JobStepInterval: 20 * time.Millisecond, JobsConcurrent: 3, FailRate: 0.4, Tenants: tenants, Seed: 3})
	stop := runFeed(t, f.Run)
	replay := func() *jobChecker {
		c := newJobChecker(t, tenants, 3)
		for _, m := range rec.snapshot() {
			c.check(m)
		}
		return c
	}
	testsupport.WaitFor(t, "8 finished jobs, some done, some failed", 40*time.Second, func() bool {
		c := replay()
		return c.done+c.failed >= 8 && c.done > 0 && c.failed > 0
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	msgs := rec.snapshot()
	checkConvention(t, msgs)
	c := replay()
	if c.maxLive != 3 || c.live != 3 {
		t.Fatalf("live jobs: max %d, now %d; want 3 kept alive", c.maxLive, c.live)
	}
	if len(f.em.seq) != 3 {
		t.Fatalf("%d job subjects numbered, want only the 3 live ones", len(f.em.seq))
	}
}

// TestJobsStagesAndNeverFail drives the model directly with FailRate < 0:
// every job goes through all four running stages and ends done.
func TestJobsStagesAndNeverFail(t *testing.T) {
	pub := &fakePublisher{}
	f := NewJobFeed(pub, Config{JobsConcurrent: 2, FailRate: -1, Seed: 4})
	f.jobs = []*job{f.newJob(), f.newJob()}
	for range 400 {
		f.step()
	}
	c := newJobChecker(t, defaultTenants, 2)
	stages := map[string]map[string]bool{}
	for _, m := range pub.received() {
		c.check(m)
		if stages[m.subject] == nil {
			stages[m.subject] = map[string]bool{}
		}
		var ev JobProgress
		mustUnmarshal(t, m, &ev)
		stages[m.subject][ev.Stage] = true
	}
	if c.failed != 0 || c.done < 4 {
		t.Fatalf("done %d failed %d; want several done, none failed", c.done, c.failed)
	}
	for subj, st := range stages {
		if !c.finished[subj] {
			continue
		}
		for _, s := range []string{StageQueued, StageLoading, StageTokenizing, StageInference, StagePostprocess, StageDone} {
			if !st[s] {
				t.Fatalf("job %s never in stage %s", subj, s)
			}
		}
	}
}

// TestJobPlan checks every plan length a job can have: progress strictly
// increases inside (0 %, 100 %), each stage covers its own range, and every
// running stage appears, in order.
func TestJobPlan(t *testing.T) {
	f := NewJobFeed(&fakePublisher{}, Config{Seed: 8})
	for n := minRunSteps - 1; n <= maxRunSteps-1; n++ {
		for range 50 {
			plan := f.planProgress(n)
			if len(plan) != n {
				t.Fatalf("plan of %d events has %d", n, len(plan))
			}
			var seen []string
			prev := 0
			for _, p := range plan {
				if p.tenths <= prev || p.tenths >= 1000 {
					t.Fatalf("n=%d: progress %d after %d", n, p.tenths, prev)
				}
				prev = p.tenths
				i := slices.IndexFunc(jobStages[:], func(s stageRange) bool { return s.name == p.stage })
				if i < 0 || p.tenths < jobStages[i].lo || p.tenths >= jobStages[i].hi {
					t.Fatalf("n=%d: %d tenths in stage %s", n, p.tenths, p.stage)
				}
				if len(seen) == 0 || seen[len(seen)-1] != p.stage {
					seen = append(seen, p.stage)
				}
			}
			want := []string{StageLoading, StageTokenizing, StageInference, StagePostprocess}
			if !slices.Equal(seen, want) {
				t.Fatalf("n=%d: stages %v, want %v", n, seen, want)
			}
		}
	}
}
