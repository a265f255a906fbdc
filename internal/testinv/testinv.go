// Package testinv builds inventories for tests and benchmarks: the seed
// walkthrough and large synthetic clusters.
package testinv

import (
	"fmt"

	"github.com/svccheck/svccheck/probe"
)

// Seed is the seed walkthrough: 2 hostname pods on master and worker1,
// a ClusterIP 8080->80 and a NodePort 30080, 3 nodes.
func Seed() probe.Inventory {
	eps := []probe.Endpoint{
		{Address: "10.244.0.5", PodName: "web-a", NodeName: "master", Ready: true, Serving: true, Ports: map[string]int32{"http": 80}},
		{Address: "10.244.1.7", PodName: "web-b", NodeName: "worker1", Ready: true, Serving: true, Ports: map[string]int32{"http": 80}},
	}
	node := func(name, ip string) probe.Node {
		return probe.Node{Name: name, Ready: true, Addresses: map[string][]string{"InternalIP": {ip}, "ExternalIP": {"203.0.113." + ip[len(ip)-2:]}}}
	}
	return probe.Inventory{
		Nodes: []probe.Node{node("worker2", "10.10.0.12"), node("master", "10.10.0.10"), node("worker1", "10.10.0.11")},
		Services: []probe.Service{
			{Namespace: "default", Name: "web", Type: probe.TypeNodePort, ClusterIPs: []string{"10.96.0.100"}, ExternalTrafficPolicy: probe.PolicyCluster,
				Ports: []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 8080, TargetPort: "80", NodePort: 30080}}, Endpoints: eps},
		},
	}
}

// Synthetic builds a large, realistic inventory: services spread over
// namespaces, one in fifty a NodePort, endpoints spread over nodes.
func Synthetic(services, nodes, endpoints int) probe.Inventory {
	inv := probe.Inventory{}
	for n := 0; n < nodes; n++ {
		inv.Nodes = append(inv.Nodes, probe.Node{Name: fmt.Sprintf("node-%04d", n), Ready: true,
			Addresses: map[string][]string{"InternalIP": {fmt.Sprintf("10.%d.%d.%d", 10+n/65536, n/256%256, n%256)}}})
	}
	perSvc := max(endpoints/max(services, 1), 1)
	ports := map[string]int32{"http": 8080}
	for s := 0; s < services; s++ {
		svc := probe.Service{Namespace: fmt.Sprintf("ns-%03d", s%100), Name: fmt.Sprintf("svc-%05d", s), Type: probe.TypeClusterIP,
			ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", s/256, s%256)},
			Ports:      []probe.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "8080"}}}
		if s%50 == 0 {
			svc.Type, svc.ExternalTrafficPolicy = probe.TypeNodePort, probe.PolicyCluster
			svc.Ports[0].NodePort = int32(30000 + s%2768)
		}
		for e := 0; e < perSvc; e++ {
			i := s*perSvc + e
			svc.Endpoints = append(svc.Endpoints, probe.Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", 128+i/65536, i/256%256, i%256),
				PodName: fmt.Sprintf("%s-%d", svc.Name, e), NodeName: inv.Nodes[i%nodes].Name, Ready: true, Serving: true, Ports: ports})
		}
		inv.Services = append(inv.Services, svc)
	}
	return inv
}
