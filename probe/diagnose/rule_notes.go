package diagnose

import "github.com/svccheck/svccheck/probe"

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

// protocolNotProbed notes each Service port whose protocol is not TCP: its
// probes are planned but not run. It cites no probe (probes that did not run
// never fail).
type protocolNotProbed struct{}

func (protocolNotProbed) apply(c *svcContext) bool {
	for _, p := range c.svc.Ports {
		if p.Protocol != "TCP" {
			c.add(SevInfo, NoteProtocolNotProbed, "", "", nil, "port %s is %s: not probed", p.Label(), p.Protocol)
		}
	}
	return false
}
