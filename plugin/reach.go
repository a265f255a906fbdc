package plugin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/probe/plan"
	"github.com/svccheck/svccheck/probe/prober"
)

// reacher knocks on node addresses (prober.Sockets.Reach).
type reacher interface {
	Reach(ctx context.Context, targets []prober.ReachTarget) []prober.Reach
}

// maxKnock bounds the Services whose NodePorts the pass may knock on.
const maxKnock = 64

// knockSample is how many node addresses try every other Service when no
// node answered the first two.
const knockSample = 3

// reachPass is what the reachability pass found: the node addresses that
// answered on no NodePort it knocked on, where some node did answer (or
// every one when none did).
type reachPass struct {
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
	probes  int // its probes not run because of it
}

// portsText names NodePorts: "30080 (default/web) or 31000 (shop/api)".
func (rp *reachPass) portsText(ports []int32) string {
	return (&diagnose.ReachFacts{Services: rp.services}).NamePorts(ports)
}

// facts is what the pass found, as diagnosis reads it.
func (rp *reachPass) facts() *diagnose.ReachFacts {
	f := &diagnose.ReachFacts{Addrs: rp.addrs, All: rp.all, Timeout: rp.timeout, Services: rp.services}
	for _, d := range rp.down {
		f.Down = append(f.Down, diagnose.DownNode{Node: d.Node, AddressType: d.AddressType, Host: d.Host,
			Ports: d.ports, Outcome: d.outcome, Probes: d.probes})
	}
	return f
}

// detail is why a probe of an unreachable node did not run.
func (rp *reachPass) detail(d downNode) string {
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
func (k *knocks) round(ctx context.Context, r reacher, at []int, portsFor func(a int) []plan.ReachPort) {
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
func (o *Options) reachNodes(ctx context.Context, pl *probe.Plan, idx []int, results []probe.Result) map[int]bool {
	r := o.reacherFor()
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
	return o.concludeReach(k, cands).skip(pl, idx, results)
}

// concludeReach turns the evidence into the pass's findings.
func (o *Options) concludeReach(k *knocks, cands []plan.ReachPort) *reachPass {
	rp := &reachPass{services: map[int32]string{}, addrs: len(k.addrs), timeout: o.Timeout, all: len(k.alive) == 0}
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
	o.reach = rp
	return rp
}

// skip sets the NodePort and health-check probes of the unreachable
// addresses NotRun, and returns them.
func (rp *reachPass) skip(pl *probe.Plan, idx []int, results []probe.Result) map[int]bool {
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
		rp.down[d].probes++
		results[i] = probe.Result{ID: p.ID, Outcome: probe.NotRun, Detail: rp.detail(rp.down[d])}
		probe.Evaluate(p, &results[i])
		skipped[i] = true
	}
	return skipped
}

// nodePath: a local probe through a node address (NodePort, health check).
func nodePath(p *probe.Probe) bool {
	return p.From == probe.FromLocal && (p.Via == probe.ViaNodePort || p.Via == probe.ViaHealthCheck)
}

// reacherFor is what knocks on nodes: the test's, or the real sockets when
// the local prober is the real one; nil (no pass) otherwise.
func (o *Options) reacherFor() reacher {
	switch {
	case o.reacher != nil:
		return o.reacher
	case o.local == nil:
		return &prober.Sockets{Timeout: o.Timeout, Limit: o.sockets()}
	}
	return nil
}
