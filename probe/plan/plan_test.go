package plan

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/svccheck/svccheck/internal/testinv"
	"github.com/svccheck/svccheck/probe"
)

func probesWhere(pl probe.Plan, f func(p probe.Probe) bool) []probe.Probe {
	var out []probe.Probe
	for _, p := range pl.Probes {
		if f(p) {
			out = append(out, p)
		}
	}
	return out
}

func TestBuildPlanSeedLocal(t *testing.T) {
	pl := Build(testinv.Seed(), Options{From: []probe.From{probe.FromLocal}})
	nps := probesWhere(pl, func(p probe.Probe) bool { return p.Via == probe.ViaNodePort })
	if len(nps) != 3 {
		t.Fatalf("nodePort probes = %d, want one per node (3)", len(nps))
	}
	for i, want := range []string{"master", "worker1", "worker2"} {
		p := nps[i]
		if p.Node != want || p.TargetPort != 30080 || p.Expect.Want != probe.Reach || !p.HTTP {
			t.Errorf("probe %d = %+v", i, p)
		}
		if !reflect.DeepEqual(p.Backends, []string{"web-a", "web-b"}) || p.Connections != Budget(2) {
			t.Errorf("probe %s backends %v attempts %d", p.ID, p.Backends, p.Connections)
		}
	}
	if nps[2].Host != "10.10.0.12" || nps[2].ID != "default/web/http/local/nodePort/worker2/InternalIP" {
		t.Errorf("worker2 probe = %s %s", nps[2].Host, nps[2].ID)
	}
	cips := probesWhere(pl, func(p probe.Probe) bool { return p.Via == probe.ViaClusterIP })
	if len(cips) != 1 || cips[0].Expect.Want != probe.NoReach || cips[0].Connections != 1 || cips[0].Address() != "10.96.0.100:8080" {
		t.Errorf("clusterIP probes = %+v", cips)
	}
	if len(pl.Probes) != 5 {
		t.Errorf("local plan has %d probes, want 5 (3 NodePorts, ClusterIP and pod IP exposure)", len(pl.Probes))
	}
	if ep := pl.Probes[4]; ep.Via != probe.ViaEndpoint || ep.Expect.Want != probe.NoReach || ep.Host != "10.244.0.5" {
		t.Errorf("pod IP exposure probe = %+v", ep)
	}
}

func TestNoExposureProbeForHostEndpoints(t *testing.T) {
	inv := testinv.Seed()
	inv.Services[0].Endpoints = []probe.Endpoint{
		{Address: "10.10.0.10", NodeName: "master", Ready: true, Ports: map[string]int32{"http": 6443}},                    // the API server
		{Address: "10.10.0.11", PodName: "hostnet", NodeName: "worker1", Ready: true, Ports: map[string]int32{"http": 80}}, // hostNetwork pod
	}
	for _, p := range Build(inv, Options{From: []probe.From{probe.FromLocal}}).Probes {
		if p.Via == probe.ViaEndpoint {
			t.Errorf("exposure probe of a node-address endpoint: %s", p.ID)
		}
	}
}

func TestBuildPlanAddressTypes(t *testing.T) {
	pl := Build(testinv.Seed(), Options{From: []probe.From{probe.FromLocal}, AddressTypes: []string{"InternalIP", "ExternalIP", "Hostname"}})
	nps := probesWhere(pl, func(p probe.Probe) bool { return p.Via == probe.ViaNodePort })
	if len(nps) != 6 {
		t.Fatalf("nodePort probes = %d, want 3 nodes x 2 address types that exist", len(nps))
	}
	if nps[1].AddressType != "ExternalIP" || nps[1].Host != "203.0.113.10" {
		t.Errorf("second probe = %+v", nps[1])
	}
}

func TestBuildPlanInCluster(t *testing.T) {
	pl := Build(testinv.Seed(), Options{From: []probe.From{probe.FromPod}})
	var vias []string
	for _, p := range pl.Probes {
		if p.From != probe.FromPod {
			t.Errorf("probe from %s", p.From)
		}
		vias = append(vias, string(p.Via)+":"+p.Host)
	}
	want := []string{"endpoint:10.244.0.5", "endpoint:10.244.1.7", "clusterIP:10.96.0.100",
		"nodePort:10.10.0.10", "nodePort:10.10.0.11", "nodePort:10.10.0.12", "dns:web.default.svc.cluster.local"}
	if !reflect.DeepEqual(vias, want) {
		t.Errorf("paths = %v\nwant %v", vias, want)
	}
	ep := pl.Probes[0]
	if ep.TargetPort != 80 || ep.Pod != "web-a" || ep.Connections != 1 || !reflect.DeepEqual(ep.Backends, []string{"web-a"}) {
		t.Errorf("endpoint probe = %+v", ep)
	}
	if pl.Probes[2].Expect.Want != probe.Reach || pl.Probes[2].Connections != Budget(2) {
		t.Errorf("clusterIP from pod = %+v", pl.Probes[2])
	}
}

func TestBuildPlanExpectations(t *testing.T) {
	inv := testinv.Seed()
	svc := &inv.Services[0]
	svc.ExternalTrafficPolicy = probe.PolicyLocal
	svc.Endpoints[1].Ready = false // only master has a ready endpoint
	svc.Endpoints = append(svc.Endpoints, probe.Endpoint{Address: "10.244.2.3", PodName: "web-c", NodeName: "worker2", Terminating: true, Ports: map[string]int32{"http": 80}})
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod}})
	got := map[string]probe.Want{}
	for _, p := range pl.Probes {
		got[string(p.From)+"/"+string(p.Via)+"/"+p.Host] = p.Expect.Want
		if p.Via == probe.ViaNodePort && p.From == probe.FromLocal && p.Node == "master" && !reflect.DeepEqual(p.Backends, []string{"web-a"}) {
			t.Errorf("ETP=Local backends on master = %v, want only the local pod", p.Backends)
		}
		if p.Via == probe.ViaNodePort && p.Expect.Want == probe.NoReach && !strings.Contains(p.Expect.Reason, "no ready endpoint") {
			t.Errorf("noReach reason = %q", p.Expect.Reason)
		}
	}
	want := map[string]probe.Want{
		"local/nodePort/10.10.0.10": probe.Reach, "local/nodePort/10.10.0.11": probe.NoReach, "local/nodePort/10.10.0.12": probe.NoReach,
		"local/clusterIP/10.96.0.100": probe.NoReach, "local/endpoint/10.244.0.5": probe.NoReach,
		"pod/endpoint/10.244.0.5": probe.Reach, "pod/endpoint/10.244.1.7": probe.Unknown, "pod/endpoint/10.244.2.3": probe.Unknown,
		"pod/clusterIP/10.96.0.100": probe.Reach, "pod/dns/web.default.svc.cluster.local": probe.Reach,
		"pod/nodePort/10.10.0.10": probe.Unknown, "pod/nodePort/10.10.0.11": probe.Unknown, "pod/nodePort/10.10.0.12": probe.Unknown,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expectations:\n got %v\nwant %v", got, want)
	}
}

func TestBuildPlanShapes(t *testing.T) {
	inv := probe.Inventory{Nodes: []probe.Node{{Name: "n1", Ready: true, Addresses: map[string][]string{"InternalIP": {"10.10.0.1"}}}}}
	inv.Services = []probe.Service{
		{Namespace: "a", Name: "ext", Type: probe.TypeExternalName, ExternalName: "db.example.com"},
		{Namespace: "a", Name: "headless", Type: probe.TypeClusterIP, Headless: true,
			Ports:     []probe.ServicePort{{Protocol: "TCP", Port: 80, TargetPort: "80"}},
			Endpoints: []probe.Endpoint{{Address: "10.244.0.1", PodName: "p", Ready: true, Ports: map[string]int32{"": 80}}}},
		{Namespace: "a", Name: "udp", Type: probe.TypeClusterIP, ClusterIPs: []string{"10.96.0.1", "fd00::1"},
			Ports: []probe.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: "53"}}},
		{Namespace: "a", Name: "lb", Type: probe.TypeLoadBalancer, ClusterIPs: []string{"10.96.0.2"}, LoadBalancerIngress: []string{"lb.example.com"},
			Ports: []probe.ServicePort{{Name: "web", Protocol: "TCP", Port: 443, TargetPort: "8443", NodePort: 31443}}},
	}
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod}})
	count := map[string]int{}
	for _, p := range pl.Probes {
		count[p.Service+"/"+string(p.From)+"/"+string(p.Via)]++
		if p.Service == "udp" && !strings.Contains(p.Skip, "UDP") {
			t.Errorf("UDP probe not skipped: %+v", p)
		}
		if p.Service == "lb" && p.HTTP {
			t.Errorf("port named web is not HTTP without --http")
		}
	}
	want := map[string]int{
		"headless/pod/endpoint": 1, "headless/pod/dns": 1, "headless/local/endpoint": 1,
		"udp/local/clusterIP": 2, "udp/pod/clusterIP": 2, "udp/pod/dns": 1,
		"lb/local/nodePort": 1, "lb/local/loadBalancer": 1, "lb/local/clusterIP": 1,
		"lb/pod/clusterIP": 1, "lb/pod/nodePort": 1, "lb/pod/dns": 1,
	}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("probe counts:\n got %v\nwant %v", count, want)
	}
}

func TestBuildPlanDeterministicUniqueIDs(t *testing.T) {
	inv := testinv.Synthetic(50, 7, 200)
	// Dual-stack: every node and endpoint gets an IPv6 address too.
	for i := range inv.Nodes {
		inv.Nodes[i].Addresses["InternalIP"] = append(inv.Nodes[i].Addresses["InternalIP"], fmt.Sprintf("fd00::%d", i+1))
	}
	for i := range inv.Services {
		s := &inv.Services[i]
		s.ClusterIPs = append(s.ClusterIPs, fmt.Sprintf("fd01::%d", i+1))
		n := len(s.Endpoints)
		for j := 0; j < n; j++ {
			ep := s.Endpoints[j]
			ep.Address = fmt.Sprintf("fd02::%d:%d", i, j)
			s.Endpoints = append(s.Endpoints, ep)
		}
	}
	for i := range inv.Pods {
		inv.Pods[i].Owner = "Deployment/" + inv.Pods[i].Labels["app"]
	}
	opts := Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, HTTP: true, AddressTypes: []string{"InternalIP", "ExternalIP"}}
	a := Build(inv, opts)
	b := Build(inv, opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two plans of one inventory differ")
	}
	ids := map[string]bool{}
	for _, p := range a.Probes {
		if ids[p.ID] {
			t.Fatalf("duplicate probe ID %s", p.ID)
		}
		ids[p.ID] = true
	}
}

func TestBudget(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 2: 21, 4: 53, 10: 153} {
		if got := Budget(n); got != want {
			t.Errorf("Budget(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestIsHTTP(t *testing.T) {
	for _, tc := range []struct {
		p    probe.ServicePort
		want bool
	}{
		{probe.ServicePort{Name: "http"}, true}, {probe.ServicePort{Name: "http-metrics"}, true}, {probe.ServicePort{AppProtocol: "HTTP"}, true},
		{probe.ServicePort{Name: "https"}, false}, {probe.ServicePort{Name: "grpc"}, false}, {probe.ServicePort{}, false},
	} {
		if got := IsHTTP(tc.p); got != tc.want {
			t.Errorf("IsHTTP(%+v) = %v", tc.p, got)
		}
	}
}

func TestBuildPlanFromNodes(t *testing.T) {
	inv := testinv.Seed()
	svc := &inv.Services[0]
	svc.ExternalTrafficPolicy = probe.PolicyLocal
	svc.InternalTrafficPolicy = probe.PolicyLocal
	inv.Nodes[0].Ready = false // worker2: no agent there
	pl := Build(inv, Options{From: []probe.From{probe.FromNodes}})
	got := map[string]string{}
	for _, p := range pl.Probes {
		if p.Via == probe.ViaDNS {
			t.Errorf("a hostNetwork agent has no cluster DNS: %s", p.ID)
		}
		if p.BackendAddrs["10.244.1.7"] != "web-b" {
			t.Errorf("%s: no address map for conntrack attribution", p.ID)
		}
		key := string(p.From) + " " + string(p.Via) + " " + p.Node
		got[key] = fmt.Sprintf("%s %v %d", p.Expect.Want, p.Backends, p.Connections)
	}
	want := map[string]string{
		"node/master endpoint master":   "reach [web-a] 1",
		"node/master endpoint worker1":  "reach [web-b] 1",
		"node/master clusterIP ":        "reach [web-a] 1", // ITP=Local: only its own pod
		"node/master nodePort master":   "reach [web-a web-b] 21",
		"node/master nodePort worker1":  "reach [web-b] 1", // ETP=Local on another node: its local pod
		"node/master nodePort worker2":  "noReach [] 1",
		"node/worker1 endpoint master":  "reach [web-a] 1",
		"node/worker1 endpoint worker1": "reach [web-b] 1",
		"node/worker1 clusterIP ":       "reach [web-b] 1",
		"node/worker1 nodePort master":  "reach [web-a] 1",
		"node/worker1 nodePort worker1": "reach [web-a web-b] 21",
		"node/worker1 nodePort worker2": "noReach [] 1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("node plan:\n got %v\nwant %v", got, want)
	}
}

func TestBuildPlanAffinityAndHealthCheck(t *testing.T) {
	inv := testinv.Seed()
	svc := &inv.Services[0]
	svc.SessionAffinity = "ClientIP"
	svc.Type, svc.ExternalTrafficPolicy, svc.HealthCheckNodePort = probe.TypeLoadBalancer, probe.PolicyLocal, 32100
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod}, HTTP: true})
	var sticky, hc []string
	for _, p := range pl.Probes {
		if p.Expect.Sticky {
			sticky = append(sticky, fmt.Sprintf("%s %s %d", p.From, p.Via, p.Connections))
		}
		if p.Via == probe.ViaHealthCheck {
			hc = append(hc, fmt.Sprintf("%s:%d=%d", p.Node, p.TargetPort, p.Expect.Status))
		}
	}
	// Every path through the Service's addresses that must reach keeps a
	// client on one backend; endpoints and health checks are not forwarded.
	if strings.Join(sticky, ",") != "local nodePort 5,local nodePort 5,pod clusterIP 5,pod dns 5" {
		t.Errorf("sticky probes %v", sticky)
	}
	if strings.Join(hc, ",") != "master:32100=200,worker1:32100=200,worker2:32100=503" {
		t.Errorf("health checks %v", hc)
	}
	r := probe.Result{Outcome: probe.OK, Connections: 5, Seen: []string{"web-a", "web-b"}}
	for _, p := range pl.Probes {
		if p.Expect.Sticky {
			probe.Evaluate(&p, &r)
		}
	}
	if r.Pass {
		t.Error("two backends behind ClientIP affinity passed")
	}
}

// A rollout (new pod names and IPs, same owner) and new node addresses leave
// every probe ID as it was.
func TestIDsSurviveRolloutAndNodeAddressChange(t *testing.T) {
	before := testinv.Seed()
	before.Pods = []probe.Pod{
		{Namespace: "default", Name: "web-a", Owner: "Deployment/web"},
		{Namespace: "default", Name: "web-b", Owner: "Deployment/web"},
	}
	after := testinv.Seed()
	after.Pods = []probe.Pod{
		{Namespace: "default", Name: "web-7f9c-x1", Owner: "Deployment/web"},
		{Namespace: "default", Name: "web-7f9c-q2", Owner: "Deployment/web"},
	}
	svc := &after.Services[0]
	svc.Endpoints[0].PodName, svc.Endpoints[0].Address = "web-7f9c-x1", "10.244.2.9"
	svc.Endpoints[1].PodName, svc.Endpoints[1].Address = "web-7f9c-q2", "10.244.0.3"
	for i := range after.Nodes {
		after.Nodes[i].Addresses["InternalIP"] = []string{fmt.Sprintf("10.20.0.%d", i+50)}
	}
	opts := Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}}
	ids := func(pl probe.Plan) []string {
		var out []string
		for _, p := range pl.Probes {
			out = append(out, p.ID)
		}
		sort.Strings(out)
		return out
	}
	a, b := ids(Build(before, opts)), ids(Build(after, opts))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("IDs changed:\nbefore %v\nafter  %v", a, b)
	}
	for _, id := range a {
		if strings.Contains(id, "10.") {
			t.Errorf("ID %s carries an address", id)
		}
	}
	if !slices.Contains(a, "default/web/http/pod/endpoint/Deployment/web#1") {
		t.Errorf("no owner-based endpoint ID in %v", a)
	}
}

// Right after a rollout the old pods may still be terminating in the
// EndpointSlices: the ready pods keep the positions a baseline knows them by,
// whatever the old pods' names, and the terminating ones come after them.
func TestEndpointIDsOfReadyPodsBeforeTerminatingOnes(t *testing.T) {
	before := testinv.Seed()
	before.Pods = []probe.Pod{
		{Namespace: "default", Name: "web-a", Owner: "Deployment/web"},
		{Namespace: "default", Name: "web-b", Owner: "Deployment/web"},
	}
	mid := testinv.Seed()
	mid.Pods = []probe.Pod{
		{Namespace: "default", Name: "web-7f9c-x1", Owner: "Deployment/web"},
		{Namespace: "default", Name: "web-7f9c-q2", Owner: "Deployment/web"},
		{Namespace: "default", Name: "web-5b2a-old", Owner: "Deployment/web"}, // sorts first
	}
	svc := &mid.Services[0]
	svc.Endpoints[0].PodName, svc.Endpoints[0].Address = "web-7f9c-x1", "10.244.2.9"
	svc.Endpoints[1].PodName, svc.Endpoints[1].Address = "web-7f9c-q2", "10.244.0.3"
	svc.Endpoints = append(svc.Endpoints, probe.Endpoint{Address: "10.244.1.7", PodName: "web-5b2a-old", NodeName: "worker1",
		Terminating: true, Ports: map[string]int32{"http": 80}})
	opts := Options{From: []probe.From{probe.FromPod}}
	was := map[string]bool{}
	for _, p := range Build(before, opts).Probes {
		was[p.ID] = true
	}
	keys := map[string]string{}
	for _, p := range Build(mid, opts).Probes {
		if p.Via != probe.ViaEndpoint {
			continue
		}
		keys[p.Pod] = p.Key
		if p.Pod != "web-5b2a-old" && !was[p.ID] {
			t.Errorf("ready pod %s: %s is not in the baseline", p.Pod, p.ID)
		}
	}
	if keys["web-5b2a-old"] != "Deployment/web#2" || keys["web-7f9c-q2"] != "Deployment/web#0" || keys["web-7f9c-x1"] != "Deployment/web#1" {
		t.Errorf("endpoint keys %v, want the ready pods at #0 and #1 and the terminating one after them", keys)
	}
}

// TestDNSExpectation: the DNS name must resolve to the ClusterIPs (both
// families), or for a headless Service to the endpoints DNS publishes; a
// headless name is dialled on the pods' target port.
func TestDNSExpectation(t *testing.T) {
	eps := []probe.Endpoint{
		{Address: "10.244.0.5", PodName: "web-a", Ready: true, Ports: map[string]int32{"http": 80}},
		{Address: "fd00:244::5", PodName: "web-a", Ready: true, Ports: map[string]int32{"http": 80}},
		{Address: "10.244.1.7", PodName: "web-b", Ports: map[string]int32{"http": 80}}, // not ready
	}
	port := []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 8080, TargetPort: "80"}}
	for _, tc := range []struct {
		name  string
		svc   probe.Service
		addrs []string
		port  int32
	}{
		{"ClusterIP", probe.Service{ClusterIPs: []string{"10.96.0.9"}, Endpoints: eps}, []string{"10.96.0.9"}, 8080},
		{"dual-stack", probe.Service{ClusterIPs: []string{"10.96.0.9", "fd00:96::9"}, Endpoints: eps}, []string{"10.96.0.9", "fd00:96::9"}, 8080},
		{"headless: ready endpoints, target port", probe.Service{Headless: true, Endpoints: eps}, []string{"10.244.0.5", "fd00:244::5"}, 80},
		{"headless publishing not-ready addresses", probe.Service{Headless: true, PublishNotReady: true, Endpoints: eps},
			[]string{"10.244.0.5", "fd00:244::5", "10.244.1.7"}, 80},
		{"headless whose pods disagree on the port", probe.Service{Headless: true, Endpoints: []probe.Endpoint{
			{Address: "10.244.0.5", PodName: "web-a", Ready: true, Ports: map[string]int32{"http": 80}},
			{Address: "10.244.0.6", PodName: "web-c", Ready: true, Ports: map[string]int32{"http": 81}}}},
			[]string{"10.244.0.5", "10.244.0.6"}, 8080},
		{"headless without endpoints", probe.Service{Headless: true}, nil, 8080},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			svc.Namespace, svc.Name, svc.Type, svc.Ports = "default", "web", probe.TypeClusterIP, port
			pl := Build(probe.Inventory{Services: []probe.Service{svc}}, Options{From: []probe.From{probe.FromPod}})
			dns := probesWhere(pl, func(p probe.Probe) bool { return p.Via == probe.ViaDNS })
			if len(dns) != 1 {
				t.Fatalf("%d DNS probes, want 1", len(dns))
			}
			p := dns[0]
			if !reflect.DeepEqual(p.Expect.Addresses, tc.addrs) || p.TargetPort != tc.port || p.Expect.Want != probe.Reach ||
				p.Host != "web.default.svc.cluster.local" || p.ID != "default/web/http/pod/dns/web.default.svc.cluster.local" {
				t.Errorf("got %s %s:%d addresses %v, want %v port %d", p.ID, p.Host, p.TargetPort, p.Expect.Addresses, tc.addrs, tc.port)
			}
		})
	}
}

// TestUDPThroughVIPSpendsTheBudget: a UDP reply may name its pod (an echo
// server does), so a VIP path gets the coverage budget like HTTP.
func TestUDPThroughVIPSpendsTheBudget(t *testing.T) {
	svc := probe.Service{Namespace: "default", Name: "echo", Type: probe.TypeNodePort, ClusterIPs: []string{"10.96.0.7"},
		Ports: []probe.ServicePort{{Name: "echo", Protocol: "UDP", Port: 5005, TargetPort: "5005", NodePort: 30087}},
		Endpoints: []probe.Endpoint{
			{Address: "10.244.0.5", PodName: "echo-a", Ready: true, Ports: map[string]int32{"echo": 5005}},
			{Address: "10.244.1.7", PodName: "echo-b", Ready: true, Ports: map[string]int32{"echo": 5005}},
		}}
	inv := probe.Inventory{Services: []probe.Service{svc}, Nodes: []probe.Node{{Name: "n1", Ready: true, Addresses: map[string][]string{"InternalIP": {"10.10.0.1"}}}}}
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod}, Protocols: []probe.Protocol{probe.ProtocolTCP, probe.ProtocolUDP}})
	for _, p := range pl.Probes {
		want := 1
		if p.Expect.Want == probe.Reach && p.Via != probe.ViaEndpoint {
			want = Budget(2)
		}
		if p.Connections != want || p.Skip != "" || p.HTTP {
			t.Errorf("%s: %d connections (want %d) skip %q http %v", p.ID, p.Connections, want, p.Skip, p.HTTP)
		}
	}
}

// TestNodePortsOfTheServiceFamilies: on dual-stack nodes a single-stack
// Service's NodePort is probed on the node addresses of its family only
// (kube-proxy serves it there alone); a dual-stack Service's on both.
func TestNodePortsOfTheServiceFamilies(t *testing.T) {
	nodes := []probe.Node{
		{Name: "n1", Ready: true, Addresses: map[string][]string{"InternalIP": {"10.10.0.1", "fd00:10::1"}, "Hostname": {"n1"}}},
		{Name: "n2", Ready: true, Addresses: map[string][]string{"InternalIP": {"10.10.0.2", "fd00:10::2"}, "Hostname": {"n2"}}},
	}
	eps := []probe.Endpoint{{Address: "10.244.0.5", PodName: "web-a", NodeName: "n1", Ready: true, Ports: map[string]int32{"http": 80}}}
	for _, tc := range []struct {
		name       string
		clusterIPs []string
		want       []string
	}{
		{"IPv4", []string{"10.96.0.9"}, []string{"10.10.0.1", "10.10.0.2"}},
		{"IPv6", []string{"fd00:96::9"}, []string{"fd00:10::1", "fd00:10::2"}},
		{"dual-stack", []string{"10.96.0.9", "fd00:96::9"}, []string{"10.10.0.1", "fd00:10::1", "10.10.0.2", "fd00:10::2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := probe.Service{Namespace: "default", Name: "web", Type: probe.TypeNodePort, ClusterIPs: tc.clusterIPs, Endpoints: eps,
				Ports: []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 8080, TargetPort: "80", NodePort: 30080}}}
			inv := probe.Inventory{Services: []probe.Service{svc}, Nodes: nodes}
			pl := Build(inv, Options{From: []probe.From{probe.FromLocal, probe.FromPod, probe.FromNodes}, AddressTypes: []string{"InternalIP", "Hostname"}})
			got := map[probe.From][]string{}
			for _, p := range probesWhere(pl, func(p probe.Probe) bool { return p.Via == probe.ViaNodePort }) {
				if p.AddressType == "InternalIP" {
					got[p.From] = append(got[p.From], p.Host)
				} else if p.Host != p.Node {
					t.Errorf("%s: host %s", p.ID, p.Host)
				}
			}
			for _, from := range []probe.From{probe.FromLocal, probe.FromPod, probe.FromNode("n1")} {
				if !reflect.DeepEqual(got[from], tc.want) {
					t.Errorf("from %s: NodePorts on %v, want %v", from, got[from], tc.want)
				}
			}
			if n := len(probesWhere(pl, func(p probe.Probe) bool { return p.AddressType == "Hostname" })); n != 2 {
				t.Errorf("%d NodePort probes by node name, want 2 (names are kept)", n)
			}
		})
	}
}

// An endpoint on its node's own address is a hostNetwork pod: its probes
// carry the node's name for it (it answers with its node's hostname).
func TestBuildPlanHostNetworkBackend(t *testing.T) {
	inv := testinv.Seed()
	ep := &inv.Services[0].Endpoints[1]
	ep.Address, ep.NodeName = inv.Nodes[1].Addresses["InternalIP"][0], inv.Nodes[1].Name
	pl := Build(inv, Options{From: []probe.From{probe.FromLocal}, HTTP: true})
	if len(pl.Probes) == 0 {
		t.Fatal("no probes")
	}
	want := map[string]string{inv.Nodes[1].Name: ep.PodName}
	for _, p := range pl.Probes {
		if !reflect.DeepEqual(p.BackendHosts, want) {
			t.Errorf("%s: backend hosts %v, want %v", p.ID, p.BackendHosts, want)
		}
	}
	if p := Build(testinv.Seed(), Options{From: []probe.From{probe.FromLocal}}).Probes[0]; p.BackendHosts != nil {
		t.Errorf("pod-network endpoints gave backend hosts %v", p.BackendHosts)
	}
}
