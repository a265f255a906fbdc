package probe

import (
	"reflect"
	"testing"
)

// TestPathKindsComplete: every Via constant is registered once, in the
// order of the constants, and every registered kind sets every property
// but its flags (a flag's zero is a value).
func TestPathKindsComplete(t *testing.T) {
	vias := []Via{ViaEndpoint, ViaClusterIP, ViaNodePort, ViaLoadBalancer, ViaDNS, ViaHealthCheck}
	kinds := PathKinds()
	if len(kinds) != len(vias) {
		t.Fatalf("%d path kinds registered, %d Via constants", len(kinds), len(vias))
	}
	for i := range kinds {
		k := &kinds[i]
		if k.Via != vias[i] {
			t.Errorf("path kind %d is %q, want %q", i, k.Via, vias[i])
		}
		if got := k.Via.Kind(); got != k {
			t.Errorf("%s.Kind() is not its registry entry", k.Via)
		}
		v := reflect.ValueOf(*k)
		for j := 0; j < v.NumField(); j++ {
			if f := v.Field(j); f.Kind() != reflect.Bool && f.IsZero() {
				t.Errorf("path kind %q: %s is not set", k.Via, v.Type().Field(j).Name)
			}
		}
	}
}

// TestPathKindText pins what each kind's descriptor says of a probe: its
// key, its table label and its names in findings.
func TestPathKindText(t *testing.T) {
	eps := map[string]string{"10.0.0.5": "Deployment/web#0"}
	for _, c := range []struct {
		p                             Probe
		key, label1, label, name, hop string
	}{
		{Probe{Via: ViaEndpoint, From: FromPod, Host: "10.0.0.5", TargetPort: 8080},
			"Deployment/web#0", "endpoint ×1", "endpoint ×3", "endpoints", "pod IP 10.0.0.5"},
		{Probe{Via: ViaEndpoint, From: FromLocal, Host: "fd00::5", TargetPort: 8080},
			"podNetwork/ipv6", "pod IP [fd00::5]:8080", "endpoint ×3", "endpoints", "pod IP fd00::5"},
		{Probe{Via: ViaClusterIP, From: FromPod, Host: "10.96.0.1", TargetPort: 80},
			"ipv4", "clusterIP 10.96.0.1:80", "clusterIP ×3", "ClusterIP", "ClusterIP 10.96.0.1"},
		{Probe{Via: ViaNodePort, From: FromLocal, Node: "w1", AddressType: "InternalIP", Host: "fd00::1", TargetPort: 30080},
			"w1/InternalIP/ipv6", "nodePort :30080 on 1 node", "nodePort :30080 on 2 nodes", "NodePort 30080", "NodePort 30080"},
		{Probe{Via: ViaLoadBalancer, From: FromLocal, Host: "203.0.113.7", TargetPort: 80},
			"203.0.113.7", "loadBalancer 203.0.113.7:80", "loadBalancer ×3", "LoadBalancer", "LoadBalancer 203.0.113.7"},
		{Probe{Via: ViaDNS, From: FromPod, Host: "web.shop.svc.cluster.local", TargetPort: 80},
			"web.shop.svc.cluster.local", "dns web.shop.svc.cluster.local:80", "dns ×3", "DNS name", "DNS name web.shop.svc.cluster.local"},
		{Probe{Via: ViaHealthCheck, From: FromLocal, Node: "w1", AddressType: "InternalIP", Host: "10.0.0.1", TargetPort: 31000},
			"w1", "healthCheck 10.0.0.1:31000", "healthCheck ×3", "healthCheckNodePort", "healthCheckNodePort 31000"},
	} {
		p, k := &c.p, c.p.Via.Kind()
		got := []string{
			k.Key(Target{From: p.From, Node: p.Node, AddressType: p.AddressType, Host: p.Host, Endpoints: eps}),
			k.Label(Group{From: p.From, Target: p.Address(), Count: 1, Nodes: 1}),
			k.Label(Group{From: p.From, Target: p.Address(), Count: 3, Nodes: 2}),
			k.Name(p), k.Hop(p),
		}
		want := []string{c.key, c.label1, c.label, c.name, c.hop}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s from %s:\n got %q\nwant %q", p.Via, p.From, got, want)
		}
	}
}

// TestUnregisteredKind: a Via no kind registers (from a later report) is
// a forwarded path, keyed and labelled by its address.
func TestUnregisteredKind(t *testing.T) {
	p := &Probe{Via: "ingress", From: FromLocal, Host: "shop.example", TargetPort: 443}
	k := p.Via.Kind()
	if k.Route != RouteForwarded || k.Through != ThroughNone || k.Traffic != TrafficNone {
		t.Errorf("unregistered kind: %+v", k)
	}
	got := []string{k.Key(Target{Host: p.Host}), k.Label(Group{Target: p.Address(), Count: 1}), k.Name(p), k.Hop(p)}
	want := []string{"shop.example", "ingress shop.example:443", "ingress", "ingress shop.example"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
