package upstream

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
)

// Job model constants. Progress is kept in tenths of a percent (0…1000) so
// it is an exact integer; the payload's percent is tenths/10.
const (
	jobIDChars     = 10
	base36         = "0123456789abcdefghijklmnopqrstuvwxyz"
	minRunSteps    = 12 // running events plus the terminal one
	maxRunSteps    = 36
	maxQueuedSteps = 3
	maxShortStage  = 2 // most events in loading, tokenizing or postprocess
)

// stageRange is a running stage and the progress range it covers, in
// tenths of a percent: [lo, hi).
type stageRange struct {
	name   string
	lo, hi int
}

// jobStages are the running stages in order.
var jobStages = [...]stageRange{
	{StageLoading, 0, 100},
	{StageTokenizing, 100, 200},
	{StageInference, 200, 900},
	{StagePostprocess, 900, 1000},
}

var jobModels = []string{
	"llama-3-70b", "llama-3-8b", "mixtral-8x7b", "mistral-7b-instruct",
	"whisper-large-v3", "sdxl-1.0", "bge-large-en",
}

var jobErrors = []string{
	"CUDA out of memory on worker gpu-7",
	"input exceeds the model's context window of 8192 tokens",
	"worker preempted by a higher-priority job",
	"model weights checksum mismatch",
	"tokenizer: invalid UTF-8 in input at byte 18342",
	"upstream storage timeout after 30s",
}

// job is one live job; owned by JobFeed.Run's goroutine.
type job struct {
	tenant, id, model, subject string
	queuedLeft                 int // queued events still to publish
	runSteps                   int // steps from the first running event to the terminal one
	step                       int // running steps taken
	failAt                     int // running step at which the job fails; 0 = never
	tenths                     int // progress of the last event, tenths of a percent
	// plan holds the progress and stage of running steps 1 … runSteps-1:
	// tenths strictly increasing, every running stage at least once.
	plan []progressPoint
}

// progressPoint is one planned running event.
type progressPoint struct {
	tenths int
	stage  string
}

// JobFeed publishes AI job progress on jobs.<tenant>.<job-id>, keeping
// JobsConcurrent jobs alive. Each job publishes one event per
// JobStepInterval: queued (one to three events), running through the stages
// loading, tokenizing, inference and postprocess with percent strictly
// increasing and eta_ms decreasing, then done or failed (critical). A
// finished job is replaced at once by a new one with a fresh id, and
// nothing is published on a job's subject after its terminal event.
//
// Run may be called again after it returned; live jobs continue. Stats may
// be called at any time.
type JobFeed struct {
	cfg     Config
	cfgErr  error
	em      *emitter
	rng     *rand.Rand
	stats   counters
	running atomic.Bool
	jobs    []*job // owned by Run's goroutine; nil until the first Run
}

// NewJobFeed returns a feed publishing through pub. An invalid cfg is
// reported by Run.
func NewJobFeed(pub Publisher, cfg Config) *JobFeed {
	cfg = cfg.withDefaults()
	cfg.Seed = resolveSeed(cfg.Seed)
	return newJobFeed(pub, cfg, unixMs(cfg.Now()))
}

func newJobFeed(pub Publisher, cfg Config, epochMs int64) *JobFeed {
	f := &JobFeed{cfg: cfg, cfgErr: cfg.validate(), rng: newRand(cfg.Seed, streamJobs)}
	f.em = newEmitter(pub, "jobs", epochMs, cfg.Logger, &f.stats)
	return f
}

// Stats returns the feed's publish counts. Safe for concurrent use.
func (f *JobFeed) Stats() FamilyStats { return f.stats.snapshot() }

// Run publishes job progress until ctx is done, then returns nil. The first
// events are published at once. It returns an error at once if the
// configuration is invalid or the feed is already running.
func (f *JobFeed) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	if f.jobs == nil {
		f.jobs = make([]*job, f.cfg.JobsConcurrent)
		for i := range f.jobs {
			f.jobs[i] = f.newJob()
		}
	}
	everyInterval(ctx, f.cfg.JobStepInterval, f.step)
	return nil
}

// step publishes one event per live job and replaces finished jobs; a
// replacement publishes its first (queued) event in the same step.
func (f *JobFeed) step() {
	for i, j := range f.jobs {
		if f.advance(j) {
			f.em.forget(j.subject)
			f.jobs[i] = f.newJob()
			f.advance(f.jobs[i])
		}
	}
}

// newJob plans a job: its tenant, model, queue time, length and whether
// and where it fails.
func (f *JobFeed) newJob() *job {
	var id [2 + jobIDChars]byte
	id[0], id[1] = 'j', '_'
	for i := 2; i < len(id); i++ {
		id[i] = base36[f.rng.IntN(len(base36))]
	}
	j := &job{
		tenant:     f.cfg.Tenants[f.rng.IntN(len(f.cfg.Tenants))],
		id:         string(id[:]),
		model:      jobModels[f.rng.IntN(len(jobModels))],
		queuedLeft: 1 + f.rng.IntN(maxQueuedSteps),
		runSteps:   minRunSteps + f.rng.IntN(maxRunSteps-minRunSteps+1),
	}
	j.subject = "jobs." + j.tenant + "." + j.id
	j.plan = f.planProgress(j.runSteps - 1)
	if f.cfg.FailRate > 0 && f.rng.Float64() < f.cfg.FailRate {
		j.failAt = 1 + f.rng.IntN(j.runSteps-1)
	}
	return j
}

// advance publishes j's next event and reports whether it was terminal.
func (f *JobFeed) advance(j *job) (terminal bool) {
	ev := f.nextEvent(j, unixMs(f.cfg.Now()))
	terminal = ev.State == JobDone || ev.State == JobFailed
	f.em.emit(j.subject, &ev, ev.TS, terminal)
	return terminal
}

// nextEvent moves j one step and returns the event describing it.
// Invariants within a job: percent never decreases (and strictly increases
// while running), eta_ms never increases, and the last event is done
// (percent 100) or failed.
func (f *JobFeed) nextEvent(j *job, ts int64) JobProgress {
	stepMs := f.cfg.JobStepInterval.Milliseconds()
	ev := JobProgress{Tenant: j.tenant, JobID: j.id, Model: j.model, TS: ts}
	if j.queuedLeft > 0 {
		j.queuedLeft--
		ev.State, ev.Stage = JobQueued, StageQueued
		ev.ETAMs = int64(j.runSteps+j.queuedLeft) * stepMs
		return ev
	}
	j.step++
	switch {
	case j.step == j.failAt:
		ev.State, ev.Stage = JobFailed, StageFailed
		ev.Percent = float64(j.tenths) / 10
		ev.Error = jobErrors[f.rng.IntN(len(jobErrors))]
		return ev
	case j.step >= j.runSteps:
		j.tenths = 1000
		ev.State, ev.Stage, ev.Percent = JobDone, StageDone, 100
		return ev
	}
	p := j.plan[j.step-1]
	j.tenths = p.tenths
	ev.State, ev.Stage = JobRunning, p.stage
	ev.Percent = float64(j.tenths) / 10
	ev.ETAMs = int64(j.runSteps-j.step) * stepMs
	return ev
}

// planProgress plans n running events (n >= 3*maxShortStage+1): one or two
// each in loading, tokenizing and postprocess, the rest in inference.
// Within a stage of k events, event i sits near lo + (hi-lo)·i/(k+1),
// jittered by at most a quarter of the spacing, so progress strictly
// increases and stays inside the stage's range.
func (f *JobFeed) planProgress(n int) []progressPoint {
	var counts [len(jobStages)]int
	rest := n
	for i, st := range jobStages {
		if st.name != StageInference {
			counts[i] = 1 + f.rng.IntN(maxShortStage)
			rest -= counts[i]
		}
	}
	for i, st := range jobStages {
		if st.name == StageInference {
			counts[i] = rest
		}
	}
	plan := make([]progressPoint, 0, n)
	for i, st := range jobStages {
		k := counts[i]
		q := (st.hi - st.lo) / (k + 1) / 4
		for e := 1; e <= k; e++ {
			v := st.lo + (st.hi-st.lo)*e/(k+1)
			if q > 0 {
				v += f.rng.IntN(2*q+1) - q
			}
			plan = append(plan, progressPoint{tenths: v, stage: st.name})
		}
	}
	return plan
}
