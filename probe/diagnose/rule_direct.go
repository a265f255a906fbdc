package diagnose

import (
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// undeclaredPortRefused claims a port mismatch seen from inside the cluster:
// direct connections to endpoints fail, and the targetPort of the first that
// failed is declared by no container of the selected pods. It names the pods
// that failed (the first as the finding's pod) and cites every failed probe
// of the Service. It does not stop: an exposure is still reported.
type undeclaredPortRefused struct{}

func (undeclaredPortRefused) apply(c *svcContext) bool {
	refused := c.open(insideEndpoint)
	if len(refused) == 0 {
		return false
	}
	p0, r0 := c.probe(refused[0])
	if !c.undeclared(p0.TargetPort) {
		return false
	}
	pods, _ := c.byPod(refused)
	c.add(SevError, VerdictPortMismatch, "", pods[0], c.failed(anyProbe),
		"targetPort %d is declared by no container of the selected pods (they declare %s) and %s %s on it",
		p0.TargetPort, declared(c.selected), strings.Join(pods, ", "), r0.Outcome)
	return false
}

// backendNotListening claims that pods do not listen on their declared
// target port: direct connections to them from inside the cluster fail. One
// finding per pod, on the pod's node, citing the pod's failed direct probes;
// the first also cites every failed probe through a VIP or name (NodePort,
// ClusterIP, LoadBalancer, DNS, health check) not cited yet, since a backend
// that does not answer explains the paths that lead to it.
type backendNotListening struct{}

func (backendNotListening) apply(c *svcContext) bool {
	refused := c.open(insideEndpoint)
	if len(refused) == 0 {
		return false
	}
	vip := c.open(func(p *probe.Probe) bool { return p.Via != probe.ViaEndpoint })
	pods, byPod := c.byPod(refused)
	for _, pod := range pods {
		ids := byPod[pod]
		p, r := c.probe(ids[0])
		c.add(SevError, VerdictBackendNotListening, p.Node, pod, append(ids, vip...),
			"%s does not answer on %s (%s from %s): the application is not listening", pod, p.Address(), r.Outcome, p.From)
		vip = nil
	}
	return false
}

// undeclaredPortFromOutside claims a port mismatch seen from outside only: no
// direct probe from inside failed (typically none ran), every NodePort that
// must answer fails (at least two), and a numeric targetPort is declared by
// no container of the selected pods. It cites every failed probe of the
// Service.
type undeclaredPortFromOutside struct{}

func (undeclaredPortFromOutside) apply(c *svcContext) bool {
	if len(c.failed(insideEndpoint)) > 0 {
		return false
	}
	nps := c.failed(reachNodePort)
	if len(nps) < 2 || len(nps) != len(c.ran(reachNodePort)) {
		return false
	}
	for _, sp := range c.svc.Ports {
		if n, err := strconv.Atoi(sp.TargetPort); err == nil && c.undeclared(int32(n)) {
			c.add(SevError, VerdictPortMismatch, "", "", c.failed(anyProbe),
				"targetPort %d is declared by no container of the selected pods (they declare %s); every NodePort fails (%s)",
				n, declared(c.selected), c.results[nps[0]].Outcome)
			return false
		}
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
