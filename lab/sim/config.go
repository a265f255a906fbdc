package main

import (
	"flag"
	"fmt"
	"net/netip"
)

// config is the simulated cluster's shape.
type config struct {
	nodes, services, podsPerService, nodePortEvery int
	manualSlices                                   bool
	nodeNet, podNet                                string
	operator                                       string
	faults                                         string
	ready                                          string
	workers                                        int
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.nodes, "nodes", 100, "simulated nodes")
	fs.IntVar(&c.services, "services", 20, "Services in namespace sim")
	fs.IntVar(&c.podsPerService, "pods", 5, "endpoints per Service")
	fs.IntVar(&c.nodePortEvery, "nodeport-every", 1, "one Service in this many is a NodePort (1: all)")
	fs.BoolVar(&c.manualSlices, "manual-slices", false, "ClusterIP Services without selector, their EndpointSlices written here (no Pods)")
	fs.StringVar(&c.nodeNet, "node-net", "10.253.0.0/16", "addresses of the simulated nodes")
	fs.StringVar(&c.podNet, "pod-net", "10.254.0.0/16", "addresses of the simulated pods")
	fs.StringVar(&c.operator, "operator", "10.250.0.100", "the operator host's address (for the firewall fault)")
	fs.StringVar(&c.faults, "faults", "", "JSON file of faults, read at start and on SIGHUP")
	fs.StringVar(&c.ready, "ready", "", "file written once every object exists and every Service has its ready endpoints")
	fs.IntVar(&c.workers, "workers", 24, "API requests in flight while creating objects")
}

// nodeName is the i-th simulated node's name.
func nodeName(i int) string { return fmt.Sprintf("lab-sim-%04d", i) }

// serviceName is the i-th Service's name.
func serviceName(i int) string { return fmt.Sprintf("sim-%05d", i) }

// podName is the j-th pod of Service s.
func podName(s string, j int) string { return fmt.Sprintf("%s-%d", s, j) }

// isNodePort says whether the i-th Service is a NodePort.
func (c *config) isNodePort(i int) bool { return c.nodePortEvery <= 1 || i%c.nodePortEvery == 0 }

// addr is the n-th usable address of prefix, skipping .0 and .255 in the
// last octet (n from 0).
func addr(prefix string, n int) (netip.Addr, error) {
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		return netip.Addr{}, err
	}
	b := p.Masked().Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v := base + uint32(n/254)*256 + uint32(n%254) + 1
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if !p.Contains(a) {
		return netip.Addr{}, fmt.Errorf("address %d does not fit in %s", n, prefix)
	}
	return a, nil
}

// nodeAddr is the i-th node's InternalIP.
func (c *config) nodeAddr(i int) string {
	a, err := addr(c.nodeNet, i)
	if err != nil {
		panic(err)
	}
	return a.String()
}

// podAddr is the address of pod j of the i-th Service.
func (c *config) podAddr(i, j int) string {
	a, err := addr(c.podNet, i*c.podsPerService+j)
	if err != nil {
		panic(err)
	}
	return a.String()
}

// podNode is the node pod j of the i-th Service runs on: spread evenly.
func (c *config) podNode(i, j int) int { return (i*c.podsPerService + j) % c.nodes }
