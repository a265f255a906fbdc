package probe

import (
	"fmt"
	"strings"
)

// PathKind describes one kind of path to a Service (one Via): what the
// planner, the prober, NetworkPolicy, the diagnosis and the report need to
// know about its probes. Every registered kind sets every property
// (paths_test.go); Via.Kind finds a kind's descriptor.
type PathKind struct {
	// Via is the kind's value in probes, IDs and reports.
	Via Via
	// Route says where the kind's connections end.
	Route Route
	// Through says which node's dataplane handles the kind's connections.
	Through Through
	// Traffic says which of the Service's traffic policies decides where
	// the kind's connections are forwarded.
	Traffic Traffic
	// ClusterInternal: the kind's addresses are cluster-internal (pod IPs,
	// ClusterIPs), so an answer to a probe from outside the cluster is an
	// exposure.
	ClusterInternal bool
	// ByName: the probe's Host is a DNS name that each connection resolves
	// first, and whose answers must be among Expect.Addresses.
	ByName bool
	// NamedByNode: the report's table names a failing probe of the kind by
	// its node rather than by its pod or address.
	NamedByNode bool
	// Key returns a probe's key (Probe.Key) from what it targets: stable
	// across rollouts and node address changes.
	Key func(t Target) string
	// Label is the report table's path column for a group of the kind's
	// probes: "nodePort :30080 on 3 nodes", "clusterIP ×2".
	Label func(g Group) string
	// Name names the kind as a finding does, with its port where that is
	// what identifies it: "NodePort 30080", "ClusterIP", "DNS name".
	Name func(p *Probe) string
	// Hop names one probe's hop with its address or port, as a finding
	// lists hops: "NodePort 30080", "ClusterIP 10.96.0.1".
	Hop func(p *Probe) string
}

// Route says where the connections of a kind of path end.
type Route int

// Routes. The zero Route is unset.
const (
	_ Route = iota
	// RouteDirect: straight at one endpoint, on its target port; the
	// probe's Pod (or Host) is the only backend that may answer.
	RouteDirect
	// RouteForwarded: at an address the dataplane forwards to any of the
	// Service's backends (a VIP, a NodePort, a name resolving to them).
	RouteForwarded
	// RouteProxy: at the node's proxy itself, which answers for its node
	// and never names a backend (kube-proxy's health check).
	RouteProxy
)

// Through says which node's dataplane handles the connections of a kind of
// path.
type Through int

// Nodes a path goes through. The zero Through is unset.
const (
	_ Through = iota
	// ThroughNone: no node translates the connection (it goes straight to
	// a pod).
	ThroughNone
	// ThroughTarget: the probe's Node, whose address the probe connects to.
	ThroughTarget
	// ThroughVantage: the node of the probe's vantage point, which
	// translates the VIP the probe connects to (or the name leads to).
	ThroughVantage
	// ThroughAny: a node no probe names (the one a load balancer delivers
	// to).
	ThroughAny
)

// Traffic names the Service traffic policy that governs a kind of path.
type Traffic int

// Traffic policies. The zero Traffic is unset.
const (
	_ Traffic = iota
	// TrafficNone: no traffic policy applies (the path is not forwarded).
	TrafficNone
	// TrafficExternal: externalTrafficPolicy decides the backends.
	TrafficExternal
	// TrafficInternal: internalTrafficPolicy decides the backends.
	TrafficInternal
)

// Target is what a probe's key is built from: the probe's vantage point,
// node, node address type and host (its address or name).
type Target struct {
	From              From
	Node, AddressType string
	Host              string
	// Endpoints maps an endpoint's address to its stable name (owner and
	// position: "Deployment/web#0"); read only for direct probes.
	Endpoints map[string]string
}

// Group is what the report's table shows of the probes of one kind from one
// vantage point on one Service port.
type Group struct {
	From From
	// Target is the first probe's host:port.
	Target string
	// Count is the number of probes; Nodes the number of distinct nodes
	// they name.
	Count, Nodes int
}

// pathKinds is the registry, in the order of the Via constants (and of the
// report schema's via enum). A new kind is an entry here, its planners in
// probe/plan (planners), and a report schema version that lists it.
var pathKinds = []PathKind{
	{
		Via: ViaEndpoint, Route: RouteDirect, Through: ThroughNone, Traffic: TrafficNone, ClusterInternal: true,
		Key: func(t Target) string {
			if t.From == FromLocal {
				return "podNetwork" + v6(t.Host) // one pod stands for the pod network
			}
			if k, ok := t.Endpoints[t.Host]; ok {
				return k
			}
			return t.Host
		},
		Label: func(g Group) string {
			if g.From == FromLocal && g.Count == 1 {
				return "pod IP " + g.Target
			}
			return fmt.Sprintf("endpoint ×%d", g.Count)
		},
		Name: named("endpoints"),
		Hop:  func(p *Probe) string { return "pod IP " + p.Host },
	},
	{
		Via: ViaClusterIP, Route: RouteForwarded, Through: ThroughVantage, Traffic: TrafficInternal, ClusterInternal: true,
		Key: func(t Target) string {
			if strings.Contains(t.Host, ":") {
				return "ipv6"
			}
			return "ipv4"
		},
		Label: viaLabel(ViaClusterIP),
		Name:  named("ClusterIP"),
		Hop:   func(p *Probe) string { return "ClusterIP " + p.Host },
	},
	{
		Via: ViaNodePort, Route: RouteForwarded, Through: ThroughTarget, Traffic: TrafficExternal, NamedByNode: true,
		Key: func(t Target) string { return t.Node + "/" + t.AddressType + v6(t.Host) },
		Label: func(g Group) string {
			s := ""
			if g.Nodes != 1 {
				s = "s"
			}
			return fmt.Sprintf("nodePort :%s on %d node%s", g.Target[strings.LastIndexByte(g.Target, ':')+1:], g.Nodes, s)
		},
		Name: func(p *Probe) string { return fmt.Sprintf("NodePort %d", p.TargetPort) },
		Hop:  func(p *Probe) string { return fmt.Sprintf("NodePort %d", p.TargetPort) },
	},
	{
		Via: ViaLoadBalancer, Route: RouteForwarded, Through: ThroughAny, Traffic: TrafficExternal,
		Key:   hostKey,
		Label: viaLabel(ViaLoadBalancer),
		Name:  named("LoadBalancer"),
		Hop:   func(p *Probe) string { return "LoadBalancer " + p.Host },
	},
	{
		Via: ViaDNS, Route: RouteForwarded, Through: ThroughVantage, Traffic: TrafficInternal, ByName: true,
		Key:   hostKey,
		Label: viaLabel(ViaDNS),
		Name:  named("DNS name"),
		Hop:   func(p *Probe) string { return "DNS name " + p.Host },
	},
	{
		Via: ViaHealthCheck, Route: RouteProxy, Through: ThroughTarget, Traffic: TrafficNone,
		Key:   func(t Target) string { return t.Node + v6(t.Host) },
		Label: viaLabel(ViaHealthCheck),
		Name:  named("healthCheckNodePort"),
		Hop:   func(p *Probe) string { return fmt.Sprintf("healthCheckNodePort %d", p.TargetPort) },
	},
}

var kindOf = func() map[Via]*PathKind {
	m := make(map[Via]*PathKind, len(pathKinds))
	for i := range pathKinds {
		m[pathKinds[i].Via] = &pathKinds[i]
	}
	return m
}()

// Kind returns the descriptor of the path kind v. An unregistered v (read
// from a report of a later version) gets a generic forwarded kind, keyed and
// labelled by its address.
func (v Via) Kind() *PathKind {
	if k := kindOf[v]; k != nil {
		return k
	}
	return &PathKind{Via: v, Route: RouteForwarded, Through: ThroughNone, Traffic: TrafficNone,
		Key: hostKey, Label: viaLabel(v), Name: named(string(v)),
		Hop: func(p *Probe) string { return string(v) + " " + p.Host }}
}

// PathKinds lists the registered path kinds, in the order of the Via
// constants. The slice is shared: callers must not change it.
func PathKinds() []PathKind { return pathKinds }

func hostKey(t Target) string { return t.Host }

// viaLabel labels a group by the kind's name and the probe's target, or
// their count.
func viaLabel(v Via) func(g Group) string {
	return func(g Group) string {
		if g.Count == 1 {
			return string(v) + " " + g.Target
		}
		return fmt.Sprintf("%s ×%d", v, g.Count)
	}
}

func named(s string) func(*Probe) string { return func(*Probe) string { return s } }

// v6 marks an IPv6 target so both families of a dual-stack target differ.
func v6(ip string) string {
	if strings.Contains(ip, ":") {
		return "/ipv6"
	}
	return ""
}
