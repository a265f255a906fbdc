package diagnose

import (
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// externalName claims that an ExternalName Service is a CNAME nothing in the
// cluster forwards, so it is not probed: an info note, and no other rule
// runs for it. It cites no probe (the plan has none for such a Service).
type externalName struct{}

func (externalName) apply(c *svcContext) bool {
	if c.svc.Type != probe.TypeExternalName {
		return false
	}
	c.add(SevInfo, NoteExternalName, "", "", nil, "ExternalName Service (CNAME to %s): nothing in the cluster forwards it, not probed", c.svc.ExternalName)
	return true
}

// protocolNotProbed notes each Service port whose probes were planned but
// not run because the probers do not speak its protocol (cause
// probe.NotRunProtocol). It cites no probe (probes that did not run never
// fail).
type protocolNotProbed struct{}

func (protocolNotProbed) apply(c *svcContext) bool {
	var noted []string
	for _, i := range c.idx {
		p, r := c.probe(i)
		if probe.CauseOf(p, r) != probe.NotRunProtocol || slices.Contains(noted, p.Port) {
			continue
		}
		noted = append(noted, p.Port)
		c.add(SevInfo, NoteProtocolNotProbed, "", "", nil, "port %s is %s: not probed", p.Port, p.Protocol)
	}
	return false
}

// externalIPsNotProbed notes a Service's spec.externalIPs: addresses its
// network routes to some node, which svccheck does not probe (the report
// has no path kind for them), so that no one reads a passing report as
// having checked them.
type externalIPsNotProbed struct{}

func (externalIPsNotProbed) apply(c *svcContext) bool {
	if ips := c.svc.ExternalIPs; len(ips) > 0 {
		c.add(SevInfo, NoteExternalIPsNotProbed, "", "", nil, "externalIPs %s: not probed (check them from where clients reach them)", strings.Join(ips, ", "))
	}
	return false
}

// udpSilence notes, per UDP Service port, the paths that passed with no
// reply at all: a UDP server need not answer, so the silence is
// inconclusive, never a failure. It cites those probes.
type udpSilence struct{}

func (udpSilence) apply(c *svcContext) bool {
	byPort := map[string][]int{}
	var order []string
	for _, i := range c.passed(func(p *probe.Probe) bool { return p.Protocol == probe.ProtocolUDP }) {
		if r := &c.results[i]; r.Outcome != probe.NoAnswer {
			continue
		}
		p := &c.plan.Probes[i]
		if _, ok := byPort[p.Port]; !ok {
			order = append(order, p.Port)
		}
		byPort[p.Port] = append(byPort[p.Port], i)
	}
	for _, port := range order {
		idx := byPort[port]
		c.add(SevInfo, NoteUDPSilent, "", "", idx, "port %s/UDP: %s got no reply (%s): a UDP server need not answer, so this proves nothing either way",
			port, countOf(len(idx), "path"), c.hops(idx))
	}
	return false
}
