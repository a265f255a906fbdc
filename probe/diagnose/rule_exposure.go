package diagnose

import (
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// exposure warns that cluster-internal addresses answer from outside the
// cluster: one finding for the ClusterIPs, then one for the pod IP, probed
// from the operator's machine. It cites those failed probes even when an
// earlier verdict cites them too (a port mismatch cites every failed probe).
type exposure struct{}

func (exposure) apply(c *svcContext) bool {
	for _, via := range []probe.Via{probe.ViaClusterIP, probe.ViaEndpoint} {
		ex := c.failed(func(p *probe.Probe) bool {
			return p.From == probe.FromLocal && p.Via == via && p.Expect.Want == probe.NoReach
		})
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
