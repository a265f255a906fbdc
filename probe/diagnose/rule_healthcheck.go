package diagnose

import (
	"fmt"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// healthCheckMismatch: under externalTrafficPolicy=Local a load balancer
// sends traffic only to the nodes whose healthCheckNodePort answers 200,
// which kube-proxy serves from the endpoints it knows on its node. A node
// whose health check answers 200 though it has no ready endpoint of the
// Service has a kube-proxy whose view is stale: load balancers keep sending
// it traffic that it drops. A node answering 503 though it runs a ready
// endpoint is skipped by load balancers: its kube-proxy does not count the
// endpoint, or reports itself unhealthy. One finding per node, citing its
// health-check probes; other failures of a health check (no answer) are left
// to the node and hop rules.
type healthCheckMismatch struct{}

func (healthCheckMismatch) apply(c *svcContext) bool {
	nodes, byNode := c.openGroups(func(p *probe.Probe) bool { return p.Via == probe.ViaHealthCheck },
		func(p *probe.Probe, r *probe.Result) bool {
			return r.Outcome == probe.OK && p.Expect.Status != 0 && r.HTTPStatus != p.Expect.Status
		},
		func(p *probe.Probe, _ *probe.Result) string { return p.Node })
	for _, node := range nodes {
		idx := byNode[node]
		p, r := c.probe(idx[0])
		hc := fmt.Sprintf("healthCheckNodePort %d on %s answers HTTP %d", p.TargetPort, node, r.HTTPStatus)
		if local := c.readyOn(node); len(local) > 0 {
			c.add(SevError, VerdictHealthCheckMismatch, node, "", idx,
				"%s though %s runs ready endpoint %s: kube-proxy there does not count it, or reports itself unhealthy (its /healthz on port 10256 says which); load balancers skip %s",
				hc, node, strings.Join(local, ", "), node)
			continue
		}
		c.add(SevError, VerdictHealthCheckMismatch, node, "", idx,
			"%s though %s has no ready endpoint of the Service: kube-proxy there still counts one (its view is stale: check its connection to the API server); load balancers keep sending %s traffic that externalTrafficPolicy=Local drops",
			hc, node, node)
	}
	return false
}

// readyOn names the Service's ready endpoints on node (pods, or addresses
// of endpoints without a pod).
func (c *svcContext) readyOn(node string) []string {
	var out []string
	for _, ep := range c.svc.Endpoints {
		if !ep.Ready || ep.NodeName != node {
			continue
		}
		name := ep.PodName
		if name == "" {
			name = ep.Address
		}
		out = append(out, name)
	}
	return dedupe(out)
}
