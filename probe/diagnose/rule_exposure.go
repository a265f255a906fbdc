package diagnose

import (
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// exposure warns that cluster-internal addresses answer from outside the
// cluster: one finding for the ClusterIPs, then one for the pod IP, probed
// from the operator's machine. It runs even after a rule stopped (always),
// and no other rule cites those probes (see exposureProbe): an exposure is
// reported whatever else is wrong with the Service.
type exposure struct{}

func (exposure) apply(c *svcContext) bool {
	for _, via := range []probe.Via{probe.ViaClusterIP, probe.ViaEndpoint} {
		ex := c.failed(func(p *probe.Probe) bool { return exposureProbe(p) && p.Via == via })
		if len(ex) == 0 {
			continue
		}
		what := "ClusterIP"
		if via == probe.ViaEndpoint {
			what = "pod IP"
		}
		var addrs []string
		for _, i := range ex {
			addrs = append(addrs, c.plan.Probes[i].Address())
		}
		c.add(SevWarning, VerdictExposed, "", "", ex, "%s %s answers from outside the cluster: cluster-internal addresses are exposed to the operator's network",
			what, strings.Join(addrs, ", "))
	}
	return false
}
