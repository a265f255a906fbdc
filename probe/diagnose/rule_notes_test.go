package diagnose

import (
	"testing"

	"github.com/svccheck/svccheck/probe"
)

func TestExternalName(t *testing.T) {
	testRule(t, externalName{}, []ruleCase{
		{name: "ExternalName: a note, and nothing else runs", from: allFroms, outcome: healthy,
			mutate: func(inv *probe.Inventory) {
				inv.Services[0] = probe.Service{Namespace: "default", Name: "web", Type: probe.TypeExternalName, ExternalName: "example.com"}
			},
			codes: "info:externalName", msgs: []string{"ExternalName Service (CNAME to example.com): nothing in the cluster forwards it, not probed"}, stop: true},
		{name: "NodePort Service", from: local, outcome: healthy},
	})
}

func TestProtocolNotProbed(t *testing.T) {
	addPort := func(name string, proto probe.Protocol) func(inv *probe.Inventory) {
		return func(inv *probe.Inventory) {
			inv.Services[0].Ports = append(inv.Services[0].Ports, probe.ServicePort{Name: name, Protocol: proto, Port: 53, TargetPort: "53"})
		}
	}
	testRule(t, protocolNotProbed{}, []ruleCase{
		{name: "TCP only", from: local, outcome: healthy},
		{name: "a UDP port is probed", from: allFroms, mutate: addPort("dns", "UDP"), outcome: healthy},
		{name: "UDP and SCTP ports: a note for SCTP", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) { addPort("dns", "UDP")(inv); addPort("", "SCTP")(inv) },
			codes:  "info:protocolNotProbed", msgs: []string{"port 53 is SCTP: not probed"}},
	})
}

func TestExternalIPsNotProbed(t *testing.T) {
	testRule(t, externalIPsNotProbed{}, []ruleCase{
		{name: "named, whatever the paths did", from: local, outcome: healthy,
			mutate: func(inv *probe.Inventory) { inv.Services[0].ExternalIPs = []string{"192.0.2.20", "192.0.2.21"} },
			codes:  "info:externalIPsNotProbed", msgs: []string{"externalIPs 192.0.2.20, 192.0.2.21: not probed"}},
		{name: "none", from: local, outcome: healthy},
	})
}
