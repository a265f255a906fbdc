package probe

import (
	"context"
	"errors"
	"hash/fnv"
	"runtime"
	"sort"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Prober executes one probe. Implementations never return errors: every
// failure is an Outcome in the Result.
type Prober interface {
	Probe(ctx context.Context, p *Probe) Result
}

// ErrDeadline is the cause of a run's context when the whole run's deadline
// (--max-time) has passed: probes not done by then are NotRun with its text,
// and are not interrupted (the run ends normally, with a partial report).
var ErrDeadline = errors.New("run deadline (--max-time) reached")

// Schedule says how a run spends the machine. Waiting costs nothing: a probe
// in flight is a goroutine parked on its sockets, so InFlight can be large
// (hundreds or thousands, bounded by sockets, not CPUs), while Work bounds
// what does use a CPU once an answer is in.
type Schedule struct {
	// InFlight bounds the probes running at once (each waits on its own
	// connections; a prober may bound the sockets themselves too). 1 when
	// zero.
	InFlight int
	// Work bounds the finished probes processed at once: evaluation and the
	// onResult callback (progress, the report). GOMAXPROCS when zero.
	Work int
	// Tries runs each failed probe up to Tries times in all; 1 when zero.
	Tries int
}

// Run executes probes with at most limit in flight and returns one Result per
// probe, results[i] for probes[i]. A probe whose vantage point has no prober
// is reported NotRun with the reason. When ctx is cancelled, probes not yet
// started are reported NotRun "interrupted" and Run returns promptly.
// onResult, when not nil, is called once per finished probe (from several
// goroutines).
func Run(ctx context.Context, probes []Probe, probers map[From]Prober, limit int, onResult func(i int, r Result)) []Result {
	return RunTries(ctx, probes, probers, limit, 1, onResult)
}

// RunTries is Run with each failed probe tried again, up to tries times in
// all, so one lost SYN does not fail a run; Result.Tries says how many it took.
func RunTries(ctx context.Context, probes []Probe, probers map[From]Prober, limit, tries int, onResult func(i int, r Result)) []Result {
	return RunScheduled(ctx, probes, probers, Schedule{InFlight: limit, Work: limit, Tries: tries}, onResult)
}

// RunScheduled executes probes as sched says and returns results[i] for
// probes[i]. Probes start in an interleaved order (Interleave), so the
// connections in flight at any moment spread over Services and nodes instead
// of piling on one Service's backends. When ctx ends, probes not finished
// are NotRun: "interrupted" (Result.Interrupted) when it was cancelled, or
// ErrDeadline's text when that is its cause.
func RunScheduled(ctx context.Context, probes []Probe, probers map[From]Prober, sched Schedule, onResult func(i int, r Result)) []Result {
	results := make([]Result, len(probes))
	idx := make([]int, len(probes))
	for i := range idx {
		idx[i] = i
	}
	RunSubset(ctx, probes, idx, probers, sched, results, onResult)
	return results
}

// RunSubset is RunScheduled on probes[i] for i in idx only, writing each
// result to results[i] (len(results) == len(probes); nil: onResult only)
// and calling onResult with i: a part of a large plan runs without a copy
// of it.
func RunSubset(ctx context.Context, probes []Probe, idx []int, probers map[From]Prober, sched Schedule, results []Result, onResult func(i int, r Result)) {
	work := semaphore.NewWeighted(int64(max(sched.Work, 0)))
	if sched.Work <= 0 {
		work = semaphore.NewWeighted(int64(runtime.GOMAXPROCS(0)))
	}
	finish := func(i int, r Result) {
		_ = work.Acquire(context.Background(), 1) // never fails without a context to end
		defer work.Release(1)
		Evaluate(&probes[i], &r)
		if r.Tries == 0 && r.Outcome != NotRun {
			r.Tries = 1
		}
		if results != nil {
			results[i] = r
		}
		if onResult != nil {
			onResult(i, r)
		}
	}
	var g errgroup.Group
	g.SetLimit(max(sched.InFlight, 1))
	for _, i := range Interleave(probes, idx) {
		p := &probes[i]
		pr, ok := probers[p.From]
		if !ok {
			finish(i, Result{ID: p.ID, Outcome: NotRun, Detail: "no prober for vantage point " + string(p.From)})
			continue
		}
		if ctx.Err() != nil {
			finish(i, Stopped(ctx, p.ID))
			continue
		}
		g.Go(func() error {
			finish(i, runOne(ctx, pr, p, max(sched.Tries, 1)))
			return nil
		})
	}
	_ = g.Wait()
}

// runOne runs p, again while it fails, up to tries times in all.
func runOne(ctx context.Context, pr Prober, p *Probe, tries int) Result {
	if ctx.Err() != nil {
		return Stopped(ctx, p.ID)
	}
	r := pr.Probe(ctx, p)
	for try := 2; try <= tries && ctx.Err() == nil; try++ {
		Evaluate(p, &r)
		if r.Pass || r.Outcome == NotRun {
			break
		}
		r = pr.Probe(ctx, p)
		r.Tries = try
	}
	if r.Interrupted && errors.Is(context.Cause(ctx), ErrDeadline) {
		return Stopped(ctx, p.ID) // cut short by the deadline: not a result
	}
	return r
}

// Stopped is the Result of a probe that ctx ended before it finished:
// NotRun, with cause NotRunDeadline and ErrDeadline's text when the run's
// deadline passed, else "interrupted".
func Stopped(ctx context.Context, id string) Result {
	if errors.Is(context.Cause(ctx), ErrDeadline) {
		return Result{ID: id, Outcome: NotRun, Detail: ErrDeadline.Error(), Cause: NotRunDeadline}
	}
	return Result{ID: id, Outcome: NotRun, Detail: "interrupted", Interrupted: true}
}

// Interleave returns the order in which to start probes[i], i in idx:
// round-robin over the Service ports (namespace, Service, port), largest
// first, each port's probes rotated by an offset hashed from its name.
// Consecutive probes then go to different Services and, for NodePorts, to
// different nodes, so a thousand connections in flight are a few per
// Service and per node rather than a thousand on one Service's pods. It is
// deterministic and a permutation of idx.
func Interleave(probes []Probe, idx []int) []int {
	type group struct {
		idx []int
		off int
	}
	byPort := map[string]int{}
	var groups []*group
	for _, i := range idx {
		p := &probes[i]
		k := p.ServiceKey() + "/" + p.Port
		gi, ok := byPort[k]
		if !ok {
			gi = len(groups)
			byPort[k] = gi
			h := fnv.New32a()
			_, _ = h.Write([]byte(k))
			groups = append(groups, &group{off: int(h.Sum32() >> 1)})
		}
		groups[gi].idx = append(groups[gi].idx, i)
	}
	sort.SliceStable(groups, func(a, b int) bool { return len(groups[a].idx) > len(groups[b].idx) })
	order := make([]int, 0, len(idx))
	for round := 0; len(order) < len(idx); round++ {
		for _, g := range groups {
			if round >= len(g.idx) {
				break // sorted by size: no later group has this round
			}
			order = append(order, g.idx[(round+g.off)%len(g.idx)])
		}
	}
	return order
}
