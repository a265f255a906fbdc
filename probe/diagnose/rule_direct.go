package diagnose

import (
	"slices"
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// undeclaredPortRefused claims a port mismatch seen from inside the cluster:
// on a Service port, direct connections to endpoints on a target port no
// container of the selected pods declares are refused, every one, and no
// backend answered on that port in any way. It decides per Service port and
// target port from every failed direct probe, names the pods that refused
// (the first as the finding's pod) and cites those probes and the forwarded
// paths of the port that failed. It does not stop.
type undeclaredPortRefused struct{}

func (undeclaredPortRefused) apply(c *svcContext) bool {
	type key struct {
		port   string
		target int32
	}
	var order []key
	groups := map[key][]int{}
	for _, i := range c.open(func(p *probe.Probe) bool { return insideEndpoint(p) && p.Expect.Want == probe.Reach }) {
		p, _ := c.probe(i)
		k := key{p.Port, p.TargetPort}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		idx := groups[k]
		if !c.undeclared(k.target) || !c.allRefused(idx) || c.answeredOn(k.port, k.target) {
			continue
		}
		pods, _ := c.byPod(idx)
		idx = append(idx, c.open(func(p *probe.Probe) bool { return p.Port == k.port && forwardedReach(p) })...)
		slices.Sort(idx)
		c.add(SevError, VerdictPortMismatch, "", pods[0], idx,
			"targetPort %d is declared by no container of the selected pods (they declare %s) and %s refused on it",
			k.target, declared(c.selected), strings.Join(pods, ", "))
	}
	return false
}

// allRefused: every failed connection of the probes idx was refused.
func (c *svcContext) allRefused(idx []int) bool {
	for _, i := range idx {
		if k := failureKinds(&c.results[i]); !slices.Equal(k, []probe.Outcome{probe.Refused}) {
			return false
		}
	}
	return len(idx) > 0
}

// answeredOn reports whether anything answered on the Service port labelled
// port: a direct probe to target port, or a forwarded path reaching a backend.
func (c *svcContext) answeredOn(port string, target int32) bool {
	for _, i := range c.ran(func(p *probe.Probe) bool { return p.Port == port && p.Expect.Want == probe.Reach }) {
		p, r := c.probe(i)
		if insideEndpoint(p) && p.TargetPort == target && r.Outcome == probe.OK && r.Pass ||
			forwardedReach(p) && len(r.Seen) > 0 {
			return true
		}
	}
	return false
}

// undeclaredPortFromOutside claims a port mismatch seen from outside only:
// on a Service port with a numeric targetPort no container of the selected
// pods declares, no direct probe from inside failed (typically none ran),
// every NodePort that must answer was refused (at least two), and no path
// reached a backend. It cites the port's failed paths.
type undeclaredPortFromOutside struct{}

func (undeclaredPortFromOutside) apply(c *svcContext) bool {
	for _, sp := range c.svc.Ports {
		n, err := strconv.Atoi(sp.TargetPort)
		if err != nil || !c.undeclared(int32(n)) {
			continue
		}
		port := sp.Label()
		onPort := func(p *probe.Probe) bool { return p.Port == port }
		nodePort := func(p *probe.Probe) bool { return onPort(p) && reachNodePort(p) }
		nps := c.failed(nodePort)
		if len(nps) < 2 || len(nps) != len(c.ran(nodePort)) || !c.allRefused(nps) ||
			len(c.failed(func(p *probe.Probe) bool { return onPort(p) && insideEndpoint(p) })) > 0 || c.answeredOn(port, int32(n)) {
			continue
		}
		c.add(SevError, VerdictPortMismatch, "", "", c.open(func(p *probe.Probe) bool { return onPort(p) && forwardedReach(p) }),
			"targetPort %d is declared by no container of the selected pods (they declare %s); every NodePort fails (refused)",
			n, declared(c.selected))
	}
	return false
}

// byPod groups probes by their endpoint's pod (its address when it has no
// pod), pods in the order they first appear.
func (c *svcContext) byPod(idx []int) ([]string, map[string][]int) {
	var pods []string
	groups := map[string][]int{}
	for _, i := range idx {
		p, _ := c.probe(i)
		k := nameOr(p.Pod, p.Host)
		if _, ok := groups[k]; !ok {
			pods = append(pods, k)
		}
		groups[k] = append(groups[k], i)
	}
	return pods, groups
}
