package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/svccheck/svccheck/probe"
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
	parts := make([]string, 0, len(ports))
	for _, p := range ports[:min(len(ports), 4)] {
		parts = append(parts, fmt.Sprintf("%d (%s)", p, rp.services[p]))
	}
	if len(ports) > 4 {
		parts = append(parts, fmt.Sprintf("%d more", len(ports)-4))
	}
	return strings.Join(parts, " or ")
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

// round knocks on the addresses at (indexes into k.addrs) on ports.
func (k *knocks) round(ctx context.Context, r reacher, at []int, ports []plan.ReachPort) {
	targets := make([]prober.ReachTarget, len(at))
	for j, a := range at {
		targets[j] = prober.ReachTarget{Host: k.addrs[a].Host}
		for _, p := range ports {
			targets[j].Ports = append(targets[j].Ports, p.Port)
		}
	}
	for j, got := range r.Reach(ctx, targets) {
		a := at[j]
		for q, o := range got.Ports {
			switch o {
			case probe.OK, probe.Refused, probe.Reset:
				k.answered[a] = true
				k.alive[ports[q].Port] = true
			case probe.Timeout, probe.NoRoute:
				k.silent[a] = append(k.silent[a], ports[q].Port)
				k.outcome[a] = o
			}
		}
	}
}

// evidence reports whether address a timed out on a NodePort that answered
// elsewhere: then it, not the Service, is what does not answer.
func (k *knocks) evidence(a int) bool {
	return slices.ContainsFunc(k.silent[a], func(p int32) bool { return k.alive[p] })
}

// reachNodes is the reachability pass of the local probes idx. Every node
// address is knocked on at the NodePorts of two Services at once. When no
// node answers either, up to knockSample addresses are knocked on at every
// other Service's NodePort: a Service that answers there proves the nodes
// answer (the first two were dead Services, not dead nodes). A node address
// is then unreachable when it timed out on a NodePort that answered on
// another node (addresses without such evidence are knocked on once more at
// a NodePort that answered); when nothing answered anywhere, every address
// is. The NodePort and health-check probes of an unreachable address are
// set NotRun in results, and evaluated; it returns which.
func (o *Options) reachNodes(ctx context.Context, pl *probe.Plan, idx []int, results []probe.Result) map[int]bool {
	r := o.reacherFor()
	cands := plan.ReachPorts(pl.Probes, idx, maxKnock)
	addrs := plan.NodeAddresses(pl.Probes, idx)
	if r == nil || len(cands) == 0 || len(addrs) == 0 {
		return nil
	}
	k := &knocks{addrs: addrs, answered: make([]bool, len(addrs)), silent: make([][]int32, len(addrs)),
		outcome: make([]probe.Outcome, len(addrs)), alive: map[int32]bool{}}
	all := make([]int, len(addrs))
	for a := range all {
		all[a] = a
	}
	k.round(ctx, r, all, cands[:min(2, len(cands))])
	if len(k.alive) == 0 && len(cands) > 2 {
		k.round(ctx, r, all[:min(knockSample, len(all))], cands[2:])
	}
	var pending []int
	for a := range addrs {
		if !k.answered[a] && len(k.alive) > 0 && !k.evidence(a) {
			pending = append(pending, a)
		}
	}
	if len(pending) > 0 {
		for _, c := range cands {
			if k.alive[c.Port] {
				k.round(ctx, r, pending, []plan.ReachPort{c})
				break
			}
		}
	}
	rp := o.concludeReach(k, cands)
	return rp.skip(pl, idx, results)
}

// concludeReach turns the evidence into the pass's findings.
func (o *Options) concludeReach(k *knocks, cands []plan.ReachPort) *reachPass {
	rp := &reachPass{services: map[int32]string{}, addrs: len(k.addrs), timeout: o.Timeout, all: len(k.alive) == 0}
	for _, c := range cands {
		rp.services[c.Port] = c.Service
	}
	for a, addr := range k.addrs {
		down := !k.answered[a] && len(k.silent[a]) > 0 && (rp.all || k.evidence(a))
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
