package probe

import "fmt"

// syntheticInventory builds a large, realistic inventory: services spread over
// namespaces, one in fifty a NodePort, endpoints spread over nodes.
func syntheticInventory(services, nodes, endpoints int) Inventory {
	inv := Inventory{}
	for n := 0; n < nodes; n++ {
		inv.Nodes = append(inv.Nodes, Node{Name: fmt.Sprintf("node-%04d", n), Ready: true,
			Addresses: map[string][]string{"InternalIP": {fmt.Sprintf("10.%d.%d.%d", 10+n/65536, n/256%256, n%256)}}})
	}
	perSvc := max(endpoints/max(services, 1), 1)
	ports := map[string]int32{"http": 8080}
	for s := 0; s < services; s++ {
		svc := Service{Namespace: fmt.Sprintf("ns-%03d", s%100), Name: fmt.Sprintf("svc-%05d", s), Type: TypeClusterIP,
			ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", s/256, s%256)},
			Ports:      []ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "8080"}}}
		if s%50 == 0 {
			svc.Type, svc.ExternalTrafficPolicy = TypeNodePort, PolicyCluster
			svc.Ports[0].NodePort = int32(30000 + s%2768)
		}
		for e := 0; e < perSvc; e++ {
			i := s*perSvc + e
			svc.Endpoints = append(svc.Endpoints, Endpoint{Address: fmt.Sprintf("10.%d.%d.%d", 128+i/65536, i/256%256, i%256),
				PodName: fmt.Sprintf("%s-%d", svc.Name, e), NodeName: inv.Nodes[i%nodes].Name, Ready: true, Serving: true, Ports: ports})
		}
		inv.Services = append(inv.Services, svc)
	}
	return inv
}
