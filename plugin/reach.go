package plugin

import (
	"context"
	"fmt"
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

// reachPass is what the reachability pass found: the node addresses that
// answered on none of the NodePorts knocked on.
type reachPass struct {
	ports   []plan.ReachPort // knocked on: the first two, then the others if nobody answered
	addrs   int              // node addresses knocked on
	down    []downNode
	timeout time.Duration
}

// downNode is a node address that did not answer from here.
type downNode struct {
	plan.NodeAddress
	outcome probe.Outcome
	probes  int // its probes not run because of it
}

// all reports whether no node address answered.
func (rp *reachPass) all() bool { return len(rp.down) == rp.addrs && rp.addrs > 1 }

// portsText names the NodePorts knocked on: "30080 (default/web) or 31000 (shop/api)".
func (rp *reachPass) portsText() string {
	parts := make([]string, len(rp.ports))
	for i, p := range rp.ports {
		parts[i] = fmt.Sprintf("%d (%s)", p.Port, p.Service)
	}
	return strings.Join(parts, " or ")
}

// detail is why a probe of an unreachable node did not run.
func (rp *reachPass) detail(d downNode) string {
	return fmt.Sprintf("node %s unreachable from here: no answer on NodePort %s within %s (%s)", d.Node, rp.portsText(), rp.timeout, d.outcome)
}

// reachNodes is the reachability pass of the local probes idx: one TCP
// connection per node address to each of two Services' NodePorts (two more
// when no node answered either), all at once. The NodePort and
// health-check probes of an address that answered none are set NotRun in
// results, and evaluated; it returns which were.
func (o *Options) reachNodes(ctx context.Context, pl *probe.Plan, idx []int, results []probe.Result) map[int]bool {
	r := o.reacherFor()
	ports := plan.ReachPorts(pl.Probes, idx, 4)
	addrs := plan.NodeAddresses(pl.Probes, idx)
	if r == nil || len(ports) == 0 || len(addrs) == 0 {
		return nil
	}
	rp := &reachPass{addrs: len(addrs), timeout: o.Timeout}
	got := knock(ctx, r, addrs, ports[:min(2, len(ports))])
	rp.ports = ports[:min(2, len(ports))]
	if noneAnswered(got) && len(ports) > 2 {
		got = knock(ctx, r, addrs, ports[2:])
		rp.ports = ports
	}
	down := map[plan.NodeAddress]int{}
	for k, g := range got {
		if !g.Reachable {
			down[addrs[k]] = len(rp.down)
			rp.down = append(rp.down, downNode{NodeAddress: addrs[k], outcome: g.Outcome})
		}
	}
	o.reach = rp
	skipped := map[int]bool{}
	for _, i := range idx {
		p := &pl.Probes[i]
		if p.From != probe.FromLocal || p.Via != probe.ViaNodePort && p.Via != probe.ViaHealthCheck {
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

// knock knocks on every address at ports; results by address.
func knock(ctx context.Context, r reacher, addrs []plan.NodeAddress, ports []plan.ReachPort) []prober.Reach {
	targets := make([]prober.ReachTarget, len(addrs))
	for k, a := range addrs {
		targets[k] = prober.ReachTarget{Host: a.Host}
		for _, p := range ports {
			targets[k].Ports = append(targets[k].Ports, p.Port)
		}
	}
	return r.Reach(ctx, targets)
}

func noneAnswered(got []prober.Reach) bool {
	for _, g := range got {
		if g.Reachable {
			return false
		}
	}
	return true
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
