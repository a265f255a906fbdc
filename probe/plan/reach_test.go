package plan

import (
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

func TestReachPortsAndAddresses(t *testing.T) {
	inv := testinv.Synthetic(150, 5, 300) // NodePort Services svc-00000, svc-00050, svc-00100
	inv.Services[50].ExternalTrafficPolicy = probe.PolicyLocal
	inv.Services[100].Endpoints = inv.Services[100].Endpoints[:1]
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal}, HTTP: true})
	idx := make([]int, len(pl.Probes))
	for i := range idx {
		idx[i] = i
	}
	got := ReachPorts(pl.Probes, idx, 4)
	// svc-00050 drops on nodes without a pod: never a reachability port.
	want := []ReachPort{{"ns-000/svc-00000", 30000}, {"ns-000/svc-00100", 30100}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ReachPorts = %v, want %v", got, want)
	}
	addrs := NodeAddresses(pl.Probes, idx)
	if len(addrs) != 5 || addrs[0].Node != "node-0000" || addrs[0].AddressType != "InternalIP" || addrs[0].Host != "10.10.0.0" {
		t.Errorf("NodeAddresses = %v", addrs)
	}
}
