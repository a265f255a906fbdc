package diagnose

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/plan"
)

// ruleCase is one case of a rule's table: the seed inventory, mutated,
// planned from some vantage points, with scripted results; the rule runs
// alone on the first Service, after earlier rules cited some probes.
type ruleCase struct {
	name    string
	from    []probe.From
	mutate  func(inv *probe.Inventory)
	outcome func(p *probe.Probe) (probe.Outcome, []string)
	// tweak, when set, adjusts a scripted result before it is evaluated.
	tweak func(p *probe.Probe, r *probe.Result)
	// sim, when set, scripts the results instead of outcome.
	sim   *sim
	agent string                    // node the pod agent ran on
	cited func(p *probe.Probe) bool // probes earlier rules cited
	// What the rule must find: severity:code of each finding, a part of each
	// finding's message, the first finding's node and pod, and exactly
	// which probes the findings cite (none when nil).
	codes     string
	msgs      []string
	also      []string // more parts of the first finding's message
	node, pod string
	cites     func(p *probe.Probe, r *probe.Result) bool
	stop      bool
}

var (
	local    = []probe.From{probe.FromLocal}
	allFroms = []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}
)

// everyFailed: the rule cites every failed probe.
func everyFailed(_ *probe.Probe, r *probe.Result) bool { return !r.Pass }

// failedWhere: the rule cites the failed probes f matches.
func failedWhere(f func(p *probe.Probe) bool) func(p *probe.Probe, r *probe.Result) bool {
	return func(p *probe.Probe, r *probe.Result) bool { return !r.Pass && f(p) }
}

func onNode(via probe.Via, node string) func(p *probe.Probe) bool {
	return func(p *probe.Probe) bool { return p.Via == via && p.Node == node }
}

func withUnlisted(inv *probe.Inventory) {
	withPods(inv)
	inv.Services[0].Ports[0].TargetPort = "8081"
}

func testRule(t *testing.T, r rule, tests []ruleCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := testinv.Seed()
			if tc.mutate != nil {
				tc.mutate(&inv)
			}
			pl := plan.Build(inv, plan.Options{From: tc.from, HTTP: true, Protocols: probed})
			if tc.agent != "" {
				pl.AgentNodes = map[probe.From]string{probe.FromPod: tc.agent}
			}
			var res []probe.Result
			if tc.sim != nil {
				res = tc.sim.results(&pl)
			} else {
				res = scriptedResults(pl, tc.outcome)
			}
			if tc.tweak != nil {
				for i := range res {
					tc.tweak(&pl.Probes[i], &res[i])
					probe.Evaluate(&pl.Probes[i], &res[i])
				}
			}
			var idx []int
			for i := range pl.Probes {
				if pl.Probes[i].Service == inv.Services[0].Name {
					idx = append(idx, i)
				}
			}
			c := newSvcContext(&inv.Services[0], inv.Pods, &pl, res, idx, &runFacts{}, inv.ClusterDNS)
			for _, i := range idx {
				c.cited[i] = tc.cited != nil && !res[i].Pass && tc.cited(&pl.Probes[i])
			}
			stop := r.apply(c)
			checkRule(t, tc, pl, res, c.out, stop)
		})
	}
}

func checkRule(t *testing.T, tc ruleCase, pl probe.Plan, res []probe.Result, fs []Finding, stop bool) {
	t.Helper()
	if got := codes(fs); got != tc.codes || stop != tc.stop {
		t.Fatalf("findings %s, stop %v; want %s, stop %v: %+v", got, stop, tc.codes, tc.stop, fs)
	}
	for i, m := range tc.msgs {
		if !strings.Contains(fs[i].Message, m) {
			t.Errorf("finding %d: message %q\ndoes not contain %q", i, fs[i].Message, m)
		}
	}
	for _, m := range tc.also {
		if !strings.Contains(fs[0].Message, m) {
			t.Errorf("message %q\ndoes not contain %q", fs[0].Message, m)
		}
	}
	if len(fs) > 0 && (fs[0].Node != tc.node || fs[0].Pod != tc.pod) {
		t.Errorf("node %q pod %q, want %q %q", fs[0].Node, fs[0].Pod, tc.node, tc.pod)
	}
	var got, want []string
	for _, f := range fs {
		got = append(got, f.Probes...)
	}
	for i := range pl.Probes {
		if tc.cites != nil && res[i].Outcome != probe.NotRun && tc.cites(&pl.Probes[i], &res[i]) {
			want = append(want, pl.Probes[i].ID)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("cites\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// recorder is a rule that records that it ran and stops when told.
type recorder struct {
	ran  *[]int
	n    int
	stop bool
}

func (r recorder) apply(*svcContext) bool { *r.ran = append(*r.ran, r.n); return r.stop }

func TestRunStops(t *testing.T) {
	inv := testinv.Seed()
	pl := plan.Build(inv, plan.Options{From: local})
	for _, tc := range []struct {
		stops  []bool
		always int // the rule at this index is marked always (-1: none)
		want   []int
	}{
		{[]bool{false, false, false}, -1, []int{0, 1, 2}},
		{[]bool{false, true, false}, -1, []int{0, 1}},
		{[]bool{true, false, false}, -1, []int{0}},
		{[]bool{true, false, false}, 2, []int{0, 2}},
		{[]bool{false, true, false, false}, 2, []int{0, 1, 2}},
	} {
		var ran []int
		var rs []rule
		for i, s := range tc.stops {
			var r rule = recorder{ran: &ran, n: i, stop: s}
			if i == tc.always {
				r = always{r}
			}
			rs = append(rs, r)
		}
		newSvcContext(&inv.Services[0], nil, &pl, scriptedResults(pl, healthy), nil, &runFacts{}, nil).run(rs)
		if !slices.Equal(ran, tc.want) {
			t.Errorf("stops %v: ran %v, want %v", tc.stops, ran, tc.want)
		}
	}
}

// TestRulesCommentMatchesList: the numbered list in rules' comment names
// every entry of rules, in order, marking the always ones.
func TestRulesCommentMatchesList(t *testing.T) {
	b, err := os.ReadFile("rules.go")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^//  \d+\. (\w+)( \(always\))?:`).FindAllStringSubmatch(string(b), -1) {
		documented = append(documented, m[1]+m[2])
	}
	var listed []string
	for _, r := range rules {
		name := reflect.TypeOf(r).Name()
		if a, ok := r.(always); ok {
			name = reflect.TypeOf(a.rule).Name() + " (always)"
		}
		listed = append(listed, name)
	}
	if !slices.Equal(documented, listed) {
		t.Errorf("rules.go's comment lists\n%v\nthe rules are\n%v", documented, listed)
	}
}
