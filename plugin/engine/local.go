package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
)

// Local is the vantage point of this machine: real sockets (or a test's
// prober), and before the paths through node addresses a reachability pass
// that knocks on every node address once, so that an unreachable node costs
// one timeout instead of one per Service.
type Local struct {
	// Prober probes (prober.Sockets when nil).
	Prober probe.Prober
	// Reacher knocks on node addresses (the sockets when nil and Prober
	// is nil; no pass otherwise).
	Reacher Reacher

	once    sync.Once
	limiter *prober.Limiter
	mu      sync.Mutex
	reach   *ReachPass
}

// Node is "": this machine is no node of the cluster.
func (l *Local) Node() string { return "" }

// sockets is the limit on open sockets, shared by the reachability pass and
// the prober, made on first use from the limits every pass shares.
func (l *Local) sockets(lim Limits) *prober.Limiter {
	l.once.Do(func() { l.limiter = prober.NewLimiter(lim.InFlight) })
	return l.limiter
}

func (l *Local) prober(lim Limits) probe.Prober {
	if l.Prober != nil {
		return l.Prober
	}
	return &prober.Sockets{Timeout: lim.Timeout, Limit: l.sockets(lim)}
}

// Run runs the probes idx: the reachability pass while the probes that do
// not go through a node address run, then the node paths it did not rule
// out, all within lim.
func (l *Local) Run(ctx context.Context, pl *probe.Plan, idx []int, lim Limits, onResult func(i int, r probe.Result)) error {
	var nodeIdx, other []int
	for _, i := range idx {
		if nodePath(&pl.Probes[i]) {
			nodeIdx = append(nodeIdx, i)
		} else {
			other = append(other, i)
		}
	}
	probers := map[probe.From]probe.Prober{probe.FromLocal: l.prober(lim)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		probe.RunSubset(ctx, pl.Probes, other, probers, lim.Schedule(), nil, onResult)
	}()
	skipped := l.reachNodes(ctx, pl, nodeIdx, lim, onResult)
	todo := nodeIdx[:0:0]
	for _, i := range nodeIdx {
		if !skipped[i] {
			todo = append(todo, i)
		}
	}
	probe.RunSubset(ctx, pl.Probes, todo, probers, lim.Schedule(), nil, onResult)
	<-done
	return nil
}

// Reach is what the reachability passes found, nil when none ruled out a
// node address.
func (l *Local) Reach() *ReachPass {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reach
}

// addReach adds a pass's unreachable addresses to what earlier passes found.
func (l *Local) addReach(rp *ReachPass) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reach == nil || len(l.reach.down) == 0 {
		l.reach = rp
		return
	}
	for p, s := range rp.services {
		l.reach.services[p] = s
	}
	for _, d := range rp.down {
		if !slices.ContainsFunc(l.reach.down, func(e downNode) bool { return e.NodeAddress == d.NodeAddress }) {
			l.reach.down = append(l.reach.down, d)
		}
	}
}

// Reacher knocks on node addresses (prober.Sockets.Reach).
type Reacher interface {
	Reach(ctx context.Context, targets []prober.ReachTarget) []prober.Reach
}

// maxKnock bounds the Services whose NodePorts the pass may knock on.
const maxKnock = 64

// knockSample is how many node addresses try every other Service when no
// node answered the first two.
const knockSample = 3

// ReachPass is what a reachability pass found: the node addresses that
// answered on no NodePort it knocked on, where some node did answer (or
// every one when none did).
type ReachPass struct {
	services map[int32]string // NodePort -> Service, of every port knocked on
	addrs    int              // node addresses knocked on
	down     []downNode
	all      bool // no node answered on any NodePort knocked on
	timeout  time.Duration
}

// downNode is a node address that did not answer from here.
type downNode struct {
	plan.NodeAddress
	ports   []int32 // the NodePorts it was knocked on
	outcome probe.Outcome
}

// portsText names NodePorts: "30080 (default/web) or 31000 (shop/api)".
func (rp *ReachPass) portsText(ports []int32) string {
	return (&diagnose.ReachFacts{Services: rp.services}).NamePorts(ports)
}

// facts is what the passes found, as diagnosis reads it, with the node
// paths through each unreachable address that the report holds as not run
// because of it.
func (rp *ReachPass) facts(pl *probe.Plan, results []probe.Result) *diagnose.ReachFacts {
	skipped := map[plan.NodeAddress]int{}
	for i := range pl.Probes {
		p := &pl.Probes[i]
		a := plan.NodeAddress{Node: p.Node, AddressType: p.AddressType, Host: p.Host}
		if nodePath(p) && results[i].Outcome == probe.NotRun && results[i].Detail == rp.detailOf(a) && results[i].Detail != "" {
			skipped[a]++
		}
	}
	f := &diagnose.ReachFacts{Addrs: rp.addrs, All: rp.all, Timeout: rp.timeout, Services: rp.services}
	for _, d := range rp.down {
		f.Down = append(f.Down, diagnose.DownNode{Node: d.Node, AddressType: d.AddressType, Host: d.Host,
			Ports: d.ports, Outcome: d.outcome, Probes: skipped[d.NodeAddress]})
	}
	return f
}

// detail is why a probe of an unreachable node did not run.
func (rp *ReachPass) detail(d downNode) string {
	return fmt.Sprintf("node %s unreachable from here: no answer on NodePort %s within %s (%s)", d.Node, rp.portsText(d.ports), rp.timeout, d.outcome)
}

// knocks is the pass's evidence so far, per node address.
type knocks struct {
	addrs    []plan.NodeAddress
	answered []bool
	silent   [][]int32 // NodePorts that timed out (or had no route) there
	outcome  []probe.Outcome
	alive    map[int32]bool // NodePorts that answered somewhere
}

// round knocks on each address at (indexes into k.addrs) at the NodePorts
// portsFor gives it.
func (k *knocks) round(ctx context.Context, r Reacher, at []int, portsFor func(a int) []plan.ReachPort) {
	var targets []prober.ReachTarget
	var asked [][]plan.ReachPort
	var who []int
	for _, a := range at {
		ports := portsFor(a)
		if len(ports) == 0 {
			continue
		}
		t := prober.ReachTarget{Host: k.addrs[a].Host}
		for _, p := range ports {
			t.Ports = append(t.Ports, p.Port)
		}
		targets, asked, who = append(targets, t), append(asked, ports), append(who, a)
	}
	if len(targets) == 0 {
		return
	}
	for j, got := range r.Reach(ctx, targets) {
		a := who[j]
		for q, o := range got.Ports {
			switch o {
			case probe.OK, probe.Refused, probe.Reset:
				k.answered[a] = true
				k.alive[asked[j][q].Port] = true
			case probe.Timeout, probe.NoRoute:
				k.silent[a] = append(k.silent[a], asked[j][q].Port)
				k.outcome[a] = o
			}
		}
	}
}

// evidence counts the NodePorts address a timed out on that answered on
// another node: each a Service that answers, just not there.
func (k *knocks) evidence(a int) int {
	n := 0
	for _, p := range k.silent[a] {
		if k.alive[p] {
			n++
		}
	}
	return n
}

// unreachableEvidence is how many Services' NodePorts must time out on a
// node address, each answering elsewhere, before the address is
// unreachable: two, so that one Service blocked on one node (a firewall
// rule for its port) is that Service failing there, not a dead node.
const unreachableEvidence = 2

// more are the NodePorts that answered elsewhere and that address a,
// silent so far, was not knocked on yet: as many as it lacks evidence.
func (k *knocks) more(a int, cands []plan.ReachPort) []plan.ReachPort {
	need := unreachableEvidence - k.evidence(a)
	if k.answered[a] || need <= 0 {
		return nil
	}
	var out []plan.ReachPort
	for _, c := range cands {
		if k.alive[c.Port] && !slices.Contains(k.silent[a], c.Port) && len(out) < need {
			out = append(out, c)
		}
	}
	return out
}

// reachNodes is the reachability pass of the local probes idx. Every node
// address is knocked on at the NodePorts of two Services at once. When no
// node answers either, up to knockSample addresses are knocked on at every
// other Service's NodePort: a Service that answers there proves the nodes
// answer (the first two were dead Services, not dead nodes). A node address
// is then unreachable when it timed out on the NodePorts of two Services
// that answered on other nodes (an address short of that is knocked on at
// NodePorts that answered); when nothing answered anywhere, every address
// that timed out on two is. With fewer than two Services to knock on there
// is no pass. The NodePort and health-check probes of an unreachable
// address are set NotRun in results, and evaluated; it returns which.
func (l *Local) reachNodes(ctx context.Context, pl *probe.Plan, idx []int, lim Limits, onResult func(i int, r probe.Result)) map[int]bool {
	r := l.reacherFor(lim)
	cands := plan.ReachPorts(pl.Probes, idx, maxKnock)
	addrs := plan.NodeAddresses(pl.Probes, idx)
	if r == nil || len(cands) < unreachableEvidence || len(addrs) == 0 {
		return nil
	}
	k := &knocks{addrs: addrs, answered: make([]bool, len(addrs)), silent: make([][]int32, len(addrs)),
		outcome: make([]probe.Outcome, len(addrs)), alive: map[int32]bool{}}
	all := make([]int, len(addrs))
	for a := range all {
		all[a] = a
	}
	k.round(ctx, r, all, func(int) []plan.ReachPort { return cands[:2] })
	if len(k.alive) == 0 && len(cands) > 2 {
		k.round(ctx, r, all[:min(knockSample, len(all))], func(int) []plan.ReachPort { return cands[2:] })
	}
	if len(k.alive) > 0 {
		k.round(ctx, r, all, func(a int) []plan.ReachPort { return k.more(a, cands) })
	}
	rp := concludeReach(k, cands, lim.Timeout)
	l.addReach(rp)
	return rp.skip(pl, idx, onResult)
}

// concludeReach turns the evidence into the pass's findings.
func concludeReach(k *knocks, cands []plan.ReachPort, timeout time.Duration) *ReachPass {
	rp := &ReachPass{services: map[int32]string{}, addrs: len(k.addrs), timeout: timeout, all: len(k.alive) == 0}
	for _, c := range cands {
		rp.services[c.Port] = c.Service
	}
	for a, addr := range k.addrs {
		down := !k.answered[a] && (rp.all && len(k.silent[a]) >= unreachableEvidence || k.evidence(a) >= unreachableEvidence)
		if down {
			rp.down = append(rp.down, downNode{NodeAddress: addr, ports: k.silent[a], outcome: k.outcome[a]})
		}
	}
	rp.all = rp.all && len(rp.down) == len(k.addrs)
	return rp
}

// skip reports the NodePort and health-check probes of the unreachable
// addresses NotRun, and returns them.
func (rp *ReachPass) skip(pl *probe.Plan, idx []int, onResult func(i int, r probe.Result)) map[int]bool {
	down := map[plan.NodeAddress]int{}
	for d, n := range rp.down {
		down[n.NodeAddress] = d
	}
	skipped := map[int]bool{}
	for _, i := range idx {
		p := &pl.Probes[i]
		if !nodePath(p) {
			continue
		}
		d, ok := down[plan.NodeAddress{Node: p.Node, AddressType: p.AddressType, Host: p.Host}]
		if !ok {
			continue
		}
		r := probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: rp.detail(rp.down[d])}
		probe.Evaluate(p, &r)
		onResult(i, r)
		skipped[i] = true
	}
	return skipped
}

// nodePath: a local probe through a node address (NodePort, health check).
func nodePath(p *probe.Probe) bool {
	return p.From == probe.FromLocal && p.Via.Kind().Through == probe.ThroughTarget
}

// reacherFor is what knocks on nodes: the test's, or the real sockets when
// the prober is the real one; nil (no pass) otherwise.
func (l *Local) reacherFor(lim Limits) Reacher {
	switch {
	case l.Reacher != nil:
		return l.Reacher
	case l.Prober == nil:
		return &prober.Sockets{Timeout: lim.Timeout, Limit: l.sockets(lim)}
	}
	return nil
}

// detailOf is why the probes through unreachable address a were not run.
func (rp *ReachPass) detailOf(a plan.NodeAddress) string {
	for _, d := range rp.down {
		if d.NodeAddress == a {
			return rp.detail(d)
		}
	}
	return ""
}
