//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svccheck/svccheck/report"
)

// soakFault is a fault the soak injects at a random moment of a run.
type soakFault struct {
	name string
	// inject breaks something, after delay; undo mends it (after the run).
	inject func(t *testing.T, r *rand.Rand)
	undo   func(t *testing.T)
	// codes are the exit codes the run may end with under this fault: 0
	// when it missed the agent or was ridden out, 4 when the agent stopped
	// short, 1 when it is a real dataplane fault the report names.
	codes []int
}

// soakMoment is when a fault strikes after the run starts: within the
// first 1.2 s, as the seed's agent run lasts about a second (faults drawn
// up to 3 s in landed after most runs had ended).
func soakMoment(r *rand.Rand) time.Duration { return time.Duration(r.IntN(1200)) * time.Millisecond }

func soakFaults() []soakFault {
	agent := func(f func(ref string, r *rand.Rand)) func(t *testing.T, r *rand.Rand) {
		return func(t *testing.T, r *rand.Rand) {
			if ref := agentPod(t, false, 8*time.Second); ref != "" {
				time.Sleep(time.Duration(r.IntN(400)) * time.Millisecond)
				f(ref, r)
			}
		}
	}
	return []soakFault{
		{name: "none", inject: func(*testing.T, *rand.Rand) {}, codes: []int{0}},
		{name: "api-freeze", inject: func(t *testing.T, r *rand.Rand) {
			time.Sleep(soakMoment(r))
			labErr(t, "api-freeze", strconv.Itoa(1+r.IntN(8)))
		}, codes: []int{0, 4}},
		{name: "api-restart", inject: func(t *testing.T, r *rand.Rand) {
			time.Sleep(soakMoment(r))
			labErr(t, "api-restart")
		}, undo: recoverFromAPIRestart, codes: []int{0, 4}},
		{name: "pod-delete", inject: agent(func(ref string, _ *rand.Rand) {
			ns, name, _ := strings.Cut(ref, "/")
			_, _ = runLab("kubectl", "delete", "pod", "-n", ns, name, "--wait=false") // gone already: a miss
		}), codes: []int{0, 4}},
		{name: "agent-kill", inject: agent(func(ref string, r *rand.Rand) {
			_, _ = runLab("agent-kill", ref, []string{"KILL", "TERM"}[r.IntN(2)]) // no process yet, or done: a miss
		}), codes: []int{0, 4}},
		{name: "kubelet-restart", inject: func(t *testing.T, r *rand.Rand) {
			time.Sleep(soakMoment(r))
			labErr(t, "kubelet-stop", "lab-w1")
			time.Sleep(soakMoment(r))
			labErr(t, "kubelet-start", "lab-w1")
		}, undo: func(t *testing.T) { _, _ = runLab("kubelet-start", "lab-w1") }, codes: []int{0, 1, 4}},
		{name: "node-blip", inject: func(t *testing.T, r *rand.Rand) {
			time.Sleep(soakMoment(r))
			labErr(t, "node-lose", "lab-w1")
			time.Sleep(time.Duration(1+r.IntN(8)) * time.Second)
			labErr(t, "node-restore", "lab-w1")
		}, undo: func(t *testing.T) { _, _ = runLab("node-restore", "lab-w1") }, codes: []int{0, 1, 4}},
		{name: "proxy-stop", inject: func(t *testing.T, r *rand.Rand) {
			time.Sleep(soakMoment(r))
			labErr(t, "proxy-stop", "lab-w1")
		}, undo: func(t *testing.T) { _, _ = runLab("proxy-start", "lab-w1") }, codes: []int{0, 1}},
	}
}

// runLab runs lab.sh for a fault that may miss (its target gone already).
func runLab(args ...string) (string, error) {
	out, err := exec.Command(labSh, args...).CombinedOutput()
	return string(out), err
}

// TestSoak runs SOAK_RUNS back-to-back `--from cluster` runs on the seed (a
// few seconds each), each with a fault at a random moment half of the time
// (SOAK_SEED fixes the draw), and counts hangs, objects left right after a
// run exits, and exit codes the fault does not allow: all must be zero.
func TestSoak(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("SOAK_RUNS"))
	if runs <= 0 {
		t.Skip("SOAK_RUNS not set (make soak SOAK_RUNS=300)")
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("soak: %d runs, SOAK_SEED=%d", runs, seed)
	freshAgentImage(t)
	r := rand.New(rand.NewPCG(seed, seed))
	faults := soakFaults()
	const bound = 90 * time.Second
	type tally struct{ runs, hangs, leftovers, wrongCodes, notRun int }
	by := map[string]*tally{}
	codes := map[string]map[int]int{}
	var total tally
	var took []time.Duration
	start := time.Now()
	for i := range runs {
		f := faults[0]
		if r.IntN(2) == 1 {
			f = faults[1+r.IntN(len(faults)-1)]
		}
		sr := rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))
		o := runFaulted(t, nil, func() { f.inject(t, sr) }, bound, seedArgs...)
		if f.undo != nil {
			f.undo(t)
		}
		if by[f.name] == nil {
			by[f.name], codes[f.name] = &tally{}, map[int]int{}
		}
		b := by[f.name]
		b.runs++
		total.runs++
		codes[f.name][o.code]++
		took = append(took, o.took)
		var problems []string
		if o.hung {
			b.hangs++
			total.hangs++
			problems = append(problems, "HANG")
		}
		if len(o.left) > 0 {
			b.leftovers++
			total.leftovers++
			problems = append(problems, fmt.Sprintf("LEFT %v", o.left))
		}
		wrong := !slices.Contains(f.codes, o.code)
		if o.r != nil {
			n := notRunBecause(t, o.r, agentReasons...)
			b.notRun += n
			wrong = wrong || o.code == 0 && n > 0 || o.code == 4 && n == 0 || o.r.Interrupted
		} else {
			wrong = wrong || o.code != 4 // only an agent that never started prints no report
		}
		if o.code == 1 && o.r != nil {
			// Every soak fault strikes lab-w1: a run that ends with a real
			// fault (kube-proxy stopped; DNS through lab-w1 broken while its
			// kubelet restarts; its network gone for a moment) must name
			// lab-w1 in every error, and nothing else.
			wrong = wrong || !namesOnly(t, i+1, o.r, "lab-w1")
		}
		if wrong {
			b.wrongCodes++
			total.wrongCodes++
			problems = append(problems, fmt.Sprintf("WRONG exit %d (allowed %v): %q", o.code, f.codes, errLines(o.stderr)))
		}
		if len(problems) > 0 {
			t.Errorf("run %d (%s): %s", i+1, f.name, strings.Join(problems, "; "))
		}
		if f.undo != nil { // the lab, or its controllers, may need a moment
			labHealthy(t)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("soak: %d runs in %s (SOAK_SEED=%d): %d hangs, %d leftovers, %d wrong exit codes; run time median %s, p95 %s, max %s",
		total.runs, time.Since(start).Round(time.Second), seed, total.hangs, total.leftovers, total.wrongCodes,
		took[len(took)/2].Round(100*time.Millisecond), took[len(took)*95/100].Round(100*time.Millisecond), took[len(took)-1].Round(100*time.Millisecond))
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := by[n]
		t.Logf("soak: %-16s runs %3d  exit codes %v  probes not run %d  hangs %d  leftovers %d  wrong %d", n, b.runs, codes[n], b.notRun, b.hangs, b.leftovers, b.wrongCodes)
	}
}

// namesOnly logs the findings of run and reports whether there is one and
// every error names node (as its node or in its message) or is about
// readiness, which a kubelet restart resets.
func namesOnly(t *testing.T, run int, r *report.Report, node string) bool {
	errs := 0
	for _, f := range r.Findings {
		t.Logf("run %d: %s %s@%s/%s: %s", run, f.Severity, f.Code, f.Node, f.Pod, f.Message)
		if f.Severity != "error" {
			continue
		}
		errs++
		if f.Node != node && f.Code != "endpointNotReady" && !strings.Contains(f.Message, node) {
			return false
		}
	}
	return errs > 0
}
