package probe

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is a Prober that answers from a table and records concurrency.
type scripted struct {
	delay    time.Duration
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	outcome  func(p *Probe) Outcome
}

func (s *scripted) Probe(ctx context.Context, p *Probe) Result {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return Result{ID: p.ID, Outcome: NotRun, Detail: "interrupted", Interrupted: true}
	}
	o := s.outcome(p)
	r := Result{ID: p.ID, Outcome: o, Connections: 1}
	if o != OK {
		r.Failures = 1
	}
	return r
}

func numbered(n int, from From) []Probe {
	ps := make([]Probe, n)
	for i := range ps {
		ps[i] = Probe{ID: fmt.Sprint(i), From: from, Expect: Expectation{Want: Reach}}
	}
	return ps
}

func TestRunResultsByIndexAndLimit(t *testing.T) {
	ps := numbered(200, FromLocal)
	ps[7].Expect.Want = NoReach
	ps = append(ps, Probe{ID: "pod", From: FromPod, Expect: Expectation{Want: Reach}})
	s := &scripted{delay: time.Millisecond, outcome: func(p *Probe) Outcome {
		if p.ID == "13" || p.ID == "7" {
			return Refused
		}
		return OK
	}}
	var calls sync.Map
	res := Run(context.Background(), ps, map[From]Prober{FromLocal: s}, 8, func(i int, r Result) { calls.Store(i, r.ID) })
	for i, r := range res {
		if r.ID != ps[i].ID {
			t.Fatalf("results[%d] is for %s", i, r.ID)
		}
		if v, ok := calls.Load(i); !ok || v != r.ID {
			t.Errorf("onResult not called for %d", i)
		}
	}
	if !res[7].Pass || res[13].Pass || !res[0].Pass {
		t.Errorf("evaluation: 7=%v 13=%v 0=%v", res[7].Pass, res[13].Pass, res[0].Pass)
	}
	if last := res[len(res)-1]; last.Outcome != NotRun || last.Detail != "no prober for vantage point pod" {
		t.Errorf("probe without prober: %+v", last)
	}
	if m := s.maxSeen.Load(); m > 8 || m < 2 {
		t.Errorf("max in flight = %d, want 2..8", m)
	}
}

func TestRunInterrupt(t *testing.T) {
	ps := numbered(1000, FromLocal)
	s := &scripted{delay: 20 * time.Millisecond, outcome: func(*Probe) Outcome { return OK }}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res := Run(ctx, ps, map[From]Prober{FromLocal: s}, 4, nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s after cancel", d)
	}
	done, interrupted := 0, 0
	for _, r := range res {
		switch {
		case r.Outcome == OK:
			done++
		case r.Interrupted && r.Outcome == NotRun && r.Pass:
			interrupted++
		default:
			t.Fatalf("unexpected result %+v", r)
		}
	}
	if done == 0 || interrupted == 0 || done+interrupted != len(ps) {
		t.Errorf("done=%d interrupted=%d", done, interrupted)
	}
}

// flaky fails the first try of every probe.
type flaky struct{ calls sync.Map }

func (f *flaky) Probe(_ context.Context, p *Probe) Result {
	n, _ := f.calls.LoadOrStore(p.ID, new(atomic.Int64))
	if n.(*atomic.Int64).Add(1) == 1 {
		return Result{ID: p.ID, Outcome: Timeout, Connections: 1, Failures: 1}
	}
	return Result{ID: p.ID, Outcome: OK, Connections: 1}
}

func TestRunTriesRetriesFailures(t *testing.T) {
	ps := numbered(3, FromLocal)
	res := RunTries(context.Background(), ps, map[From]Prober{FromLocal: &flaky{}}, 2, 2, nil)
	for _, r := range res {
		if !r.Pass || r.Tries != 2 {
			t.Errorf("%+v: want passed on the second try", r)
		}
	}
	res = RunTries(context.Background(), ps, map[From]Prober{FromLocal: &flaky{}}, 2, 1, nil)
	if res[0].Pass || res[0].Tries != 1 {
		t.Errorf("one try: %+v", res[0])
	}
}

func TestInterleaveIsAPermutationThatSpreads(t *testing.T) {
	var ps []Probe
	for s := 0; s < 3; s++ {
		for n := 0; n < 10-3*s; n++ {
			ps = append(ps, Probe{ID: fmt.Sprintf("s%d/n%d", s, n), Namespace: "ns", Service: fmt.Sprintf("s%d", s), Port: "http"})
		}
	}
	all := make([]int, len(ps))
	for i := range all {
		all[i] = i
	}
	order := Interleave(ps, all)
	seen := map[int]bool{}
	for _, i := range order {
		if seen[i] || i < 0 || i >= len(ps) {
			t.Fatalf("not a permutation: %v", order)
		}
		seen[i] = true
	}
	if len(order) != len(ps) {
		t.Fatalf("order has %d of %d probes", len(order), len(ps))
	}
	// The first three start one probe of each Service.
	svcs := map[string]bool{}
	for _, i := range order[:3] {
		svcs[ps[i].Service] = true
	}
	if len(svcs) != 3 {
		t.Errorf("first round %v does not start every Service", order[:3])
	}
	if again := Interleave(ps, all); fmt.Sprint(again) != fmt.Sprint(order) {
		t.Errorf("not deterministic: %v then %v", order, again)
	}
}

func TestRunScheduledDeadline(t *testing.T) {
	ps := numbered(100, FromLocal)
	s := &scripted{delay: 30 * time.Millisecond, outcome: func(*Probe) Outcome { return OK }}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, ErrDeadline)
	defer cancel()
	res := RunScheduled(ctx, ps, map[From]Prober{FromLocal: s}, Schedule{InFlight: 10}, nil)
	done, cut := 0, 0
	for _, r := range res {
		switch {
		case r.Outcome == OK:
			done++
		case r.Outcome == NotRun && r.Detail == ErrDeadline.Error() && r.Cause == NotRunDeadline && !r.Interrupted && r.Pass:
			cut++
		default:
			t.Fatalf("unexpected result %+v", r)
		}
	}
	if done == 0 || cut == 0 || done+cut != len(ps) {
		t.Errorf("done=%d cut by the deadline=%d", done, cut)
	}
}

// TestRunScheduledWaitingIsNotWork: probes that only wait are not bound by
// Work: 200 probes of 50ms each, 200 in flight, one worker, take about 50ms.
func TestRunScheduledWaitingIsNotWork(t *testing.T) {
	ps := numbered(200, FromLocal)
	s := &scripted{delay: 50 * time.Millisecond, outcome: func(*Probe) Outcome { return OK }}
	start := time.Now()
	RunScheduled(context.Background(), ps, map[From]Prober{FromLocal: s}, Schedule{InFlight: 200, Work: 1}, nil)
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s: waiting probes were serialised", d)
	}
	if m := s.maxSeen.Load(); m < 100 {
		t.Errorf("max in flight %d, want most of 200", m)
	}
}
