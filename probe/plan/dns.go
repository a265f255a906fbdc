package plan

import (
	"slices"

	"github.com/svccheck/svccheck/probe"
)

// dnsFromInside plans the Service's DNS name from an agent pod; a
// hostNetwork agent resolves with the node's resolver, not cluster DNS, and
// does not probe it.
func (b *planner) dnsFromInside(pc *portCtx, from probe.From) {
	if from.Node() != "" {
		return
	}
	name := pc.svc.Name + "." + pc.svc.Namespace + ".svc." + b.domain
	exp, port := dnsExpectation(pc)
	b.add(pc, from, probe.ViaDNS, "", "", "", name, port, pc.backends, exp)
}

// dnsExpectation is what the Service's DNS name must do, and the port a
// client of the name connects to. The name must resolve to the ClusterIPs,
// or for a headless Service to the endpoints cluster DNS publishes (ready
// ones, or every one with publishNotReadyAddresses); an answer elsewhere is
// a wrong answer. A headless name leads straight to the pods, so a client
// connects to their target port when the endpoints agree on one.
func dnsExpectation(pc *portCtx) (probe.Expectation, int32) {
	svc := pc.svc
	if len(svc.ClusterIPs) > 0 {
		return probe.Expectation{Want: probe.Reach, Addresses: svc.ClusterIPs,
			Reason: "the Service's DNS name resolves to its ClusterIP and answers"}, pc.port.Port
	}
	exp := probe.Expectation{Want: probe.Reach, Reason: "a headless Service's DNS name resolves to its endpoints, which answer"}
	port := int32(0)
	for _, ep := range svc.Endpoints {
		if !ep.Ready && !svc.PublishNotReady || slices.Contains(exp.Addresses, ep.Address) {
			continue
		}
		exp.Addresses = append(exp.Addresses, ep.Address)
		if tp, ok := ep.Ports[pc.port.Name]; ok && ep.Ready {
			switch port {
			case 0:
				port = tp
			case tp:
			default:
				port = -1 // the endpoints disagree
			}
		}
	}
	if port <= 0 {
		port = pc.port.Port
	}
	return exp, port
}
