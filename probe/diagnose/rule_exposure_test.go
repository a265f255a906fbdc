package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

// answersFromOutside: the given cluster-internal paths answer the operator.
func answersFromOutside(vias ...probe.Via) func(p *probe.Probe) (probe.Outcome, []string) {
	return func(p *probe.Probe) (probe.Outcome, []string) {
		for _, v := range vias {
			if p.From == probe.FromLocal && p.Via == v {
				return probe.OK, nil
			}
		}
		return healthy(p)
	}
}

func TestExposure(t *testing.T) {
	dualStack := func(inv *probe.Inventory) {
		inv.Services[0].ClusterIPs = append(inv.Services[0].ClusterIPs, "fd00::100")
	}
	testRule(t, exposure{}, []ruleCase{
		{name: "ClusterIP", from: local, outcome: answersFromOutside(probe.ViaClusterIP),
			codes: "warning:exposed", cites: everyFailed,
			msgs: []string{"ClusterIP 10.96.0.100:8080 answers from outside the cluster: cluster-internal addresses are exposed to the operator's network"}},
		{name: "both ClusterIPs of a dual-stack Service, one finding", from: local, mutate: dualStack, outcome: answersFromOutside(probe.ViaClusterIP),
			codes: "warning:exposed", cites: everyFailed, msgs: []string{"ClusterIP 10.96.0.100:8080, [fd00::100]:8080 answers"}},
		{name: "pod IP", from: allFroms, outcome: answersFromOutside(probe.ViaEndpoint),
			codes: "warning:exposed", cites: everyFailed, msgs: []string{"pod IP 10.244.0.5:80 answers from outside the cluster"}},
		{name: "ClusterIP, then pod IP", from: local, outcome: answersFromOutside(probe.ViaEndpoint, probe.ViaClusterIP),
			codes: "warning:exposed,warning:exposed", cites: everyFailed, msgs: []string{"ClusterIP 10.96.0.100:8080", "pod IP 10.244.0.5:80"}},
		{name: "cited even when explained already", from: local, outcome: answersFromOutside(probe.ViaClusterIP),
			cited: func(*probe.Probe) bool { return true }, codes: "warning:exposed", cites: everyFailed},
		{name: "other failures are not exposures", from: allFroms, mutate: withPods, outcome: failing(proxyDown("worker1"), probe.Refused)},
		{name: "silent from outside", from: local, outcome: healthy},
	})
}
