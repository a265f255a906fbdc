package plan

import "github.com/svccheck/svccheck/probe"

// healthCheckFromLocal plans kube-proxy's healthCheckNodePort on every
// node's InternalIP, once per Service (with its first port): it answers 200
// where the node has a ready local endpoint, 503 elsewhere.
func (b *planner) healthCheckFromLocal(pc *portCtx, _ probe.From) {
	svc := pc.svc
	hc := svc.HealthCheckNodePort
	if hc == 0 || pc.port != svc.Ports[0] {
		return
	}
	for _, n := range b.nodes {
		for _, host := range nodePortAddrs(svc, n.Addresses["InternalIP"]) {
			exp := probe.Expectation{Want: probe.Reach, Status: 503, Reason: "healthCheckNodePort answers 503 on a node without a ready local endpoint"}
			if len(pc.byNode[n.Name]) > 0 {
				exp = probe.Expectation{Want: probe.Reach, Status: 200, Reason: "healthCheckNodePort answers 200 on a node with a ready local endpoint"}
			}
			hp := *pc
			hp.http = true
			b.add(&hp, probe.FromLocal, probe.ViaHealthCheck, n.Name, "InternalIP", "", host, hc, nil, exp)
		}
	}
}
