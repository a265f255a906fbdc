// Package plan derives the probes of a run from an inventory: every path a
// client can take to each Service port, from each vantage point, with what
// should happen on it. It is pure: no I/O, the same inventory gives the same plan.
package plan

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Options select what Build plans.
type Options struct {
	// From lists the vantage points to plan for (FromLocal, FromPod).
	From []probe.From
	// AddressTypes are the node address types whose NodePorts are probed from
	// the operator's machine, e.g. InternalIP, ExternalIP.
	AddressTypes []string
	// HTTP forces HTTP probes (and attribution) on every TCP port; otherwise
	// only ports whose name or appProtocol says http use HTTP.
	HTTP bool
	// Protocols are the port protocols the probers can probe (prober.Protocols);
	// ports of other protocols are planned but marked not probed. TCP when empty.
	Protocols []probe.Protocol
	// ClusterDomain is the cluster's DNS domain; "cluster.local" when empty.
	ClusterDomain string
	// Adjust run, in order, on every probe as it is planned, and may change
	// its expectation or skip it: NetworkPolicy (probe/policy) and declared
	// exceptions (probe/expect). They must be pure, like Build.
	Adjust []func(p *probe.Probe)
	// Exhaustive runs the coverage loop through every node's NodePort, not
	// only through a sample of nodes per Service port (sample.go).
	Exhaustive bool
	// AgentNodes are the nodes that run a node agent (FromNodes); nil: every
	// Ready node (agents.go).
	AgentNodes []string
}

// FalseAlarm bounds the chance that a healthy VIP path, balancing uniformly,
// hides one of its backends for a whole Budget of connections.
const FalseAlarm = 1e-6

// Budget is the number of connections spent through a VIP to see every one of
// n backends: the least k with n·(1-1/n)^k ≤ FalseAlarm, so a backend reported
// as never seen is a finding, not bad luck (21 for 2 backends, 153 for 10).
// A healthy path stops as soon as every backend answered (about n·H(n)).
func Budget(n int) int {
	if n <= 1 {
		return 1
	}
	return int(math.Ceil(math.Log(float64(n)/FalseAlarm) / -math.Log1p(-1/float64(n))))
}

// IsHTTP reports whether a Service port speaks HTTP by its name or appProtocol.
func IsHTTP(p probe.ServicePort) bool {
	for _, s := range []string{strings.ToLower(p.AppProtocol), strings.ToLower(p.Name)} {
		if s == "http" || s == "kubernetes.io/h2c" || strings.HasPrefix(s, "http-") {
			return true
		}
	}
	return false
}

// Build derives every probe for the inventory. It is pure and
// deterministic: the same inventory and options give the same plan.
func Build(inv probe.Inventory, opts Options) probe.Plan {
	b := newPlanner(inv, opts)
	// The same rules run twice: first counting, so the plan (hundreds of
	// thousands of probes on a large cluster) is allocated once, at its size.
	b.counting = true
	for i := range inv.Services {
		b.service(&inv.Services[i])
	}
	b.counting = false
	b.probes = make([]probe.Probe, 0, b.count)
	for i := range inv.Services {
		b.service(&inv.Services[i])
	}
	pl := probe.Plan{Probes: b.probes}
	Topology(&pl, &inv) // topology.go: the paths whose forwarding node is known
	return pl
}

func newPlanner(inv probe.Inventory, opts Options) *planner {
	b := &planner{opts: opts, domain: opts.ClusterDomain, addrTypes: opts.AddressTypes, protocols: opts.Protocols,
		nodeAddr: map[string]bool{}}
	if b.domain == "" {
		b.domain = "cluster.local"
	}
	if len(b.addrTypes) == 0 {
		b.addrTypes = []string{"InternalIP"}
	}
	if len(b.protocols) == 0 {
		b.protocols = []probe.Protocol{probe.ProtocolTCP}
	}
	b.owners = make(map[string]string, len(inv.Pods))
	for _, p := range inv.Pods {
		if p.Owner != "" {
			b.owners[p.Namespace+"/"+p.Name] = p.Owner
		}
	}
	b.nodes = append([]probe.Node(nil), inv.Nodes...)
	sort.Slice(b.nodes, func(i, j int) bool { return b.nodes[i].Name < b.nodes[j].Name })
	b.agents = newAgentSet(b.nodes, opts.AgentNodes)
	for _, n := range b.nodes {
		for _, addrs := range n.Addresses {
			for _, a := range addrs {
				b.nodeAddr[a] = true
			}
		}
	}
	return b
}

type planner struct {
	nodeAddr  map[string]bool   // every node address: endpoints there are not on the pod network
	owners    map[string]string // namespace/pod -> owner ("Deployment/web"), for stable keys
	opts      Options
	nodes     []probe.Node
	addrTypes []string
	protocols []probe.Protocol
	domain    string
	counting  bool // count the probes instead of making them
	count     int
	probes    []probe.Probe
	idBuf     []byte
	sampled   sample   // sample.go
	agents    agentSet // agents.go
}

// portCtx is what every probe of one Service port shares.
type portCtx struct {
	svc      *probe.Service
	port     probe.ServicePort
	http     bool
	skip     string
	cause    probe.NotRunCause   // skip's
	backends []string            // ready endpoint pods, sorted
	byNode   map[string][]string // ready endpoint pods per node
	addrs    map[string]string   // endpoint IP -> pod, shared by the port's probes
	hosts    map[string]string   // node name -> hostNetwork pod, shared by the port's probes
	epKeys   map[string]string   // endpoint IP -> stable key (owner#position)
}

func (b *planner) service(svc *probe.Service) {
	if svc.Type == probe.TypeExternalName {
		return // nothing in the cluster forwards it; reported as a finding
	}
	epKeys := b.endpointKeys(svc)
	for _, port := range svc.Ports {
		pc := portCtx{svc: svc, port: port, epKeys: epKeys, http: port.Protocol == probe.ProtocolTCP && (b.opts.HTTP || IsHTTP(port))}
		if !slices.Contains(b.protocols, port.Protocol) {
			pc.skip, pc.cause = "protocol "+string(port.Protocol)+" is not probed", probe.NotRunProtocol
		}
		seen := map[string]bool{}
		for _, ep := range svc.Endpoints {
			if !ep.Ready || ep.PodName == "" || seen[ep.PodName] {
				continue
			}
			if _, ok := ep.Ports[port.Name]; !ok {
				continue
			}
			seen[ep.PodName] = true
			pc.backends = append(pc.backends, ep.PodName)
			if pc.byNode == nil {
				pc.byNode = map[string][]string{}
			}
			pc.byNode[ep.NodeName] = append(pc.byNode[ep.NodeName], ep.PodName)
		}
		sort.Strings(pc.backends)
		for _, ep := range svc.Endpoints {
			if ep.PodName != "" {
				if pc.addrs == nil {
					pc.addrs = map[string]string{}
				}
				pc.addrs[ep.Address] = ep.PodName
				if b.nodeAddr[ep.Address] && ep.NodeName != "" {
					if pc.hosts == nil {
						pc.hosts = map[string]string{}
					}
					pc.hosts[ep.NodeName] = ep.PodName
				}
			}
		}
		for _, from := range b.opts.From {
			switch from {
			case probe.FromLocal, probe.FromPod:
				b.paths(&pc, from)
			case probe.FromNodes:
				for _, n := range b.nodes {
					if b.agents.runs(n) {
						b.paths(&pc, probe.FromNode(n.Name))
					}
				}
			}
		}
	}
}

func (b *planner) add(pc *portCtx, from probe.From, via probe.Via, node, addrType, pod, host string, port int32, backends []string, exp probe.Expectation) {
	if b.counting {
		b.count++
		return
	}
	kind := via.Kind()
	if pc.svc.SessionAffinity == "ClientIP" && exp.Want == probe.Reach && kind.Route == probe.RouteForwarded {
		// kube-proxy keeps a client on one backend through every address of
		// the Service (ClusterIP, NodePort, load balancer), by the client's
		// own source address: one backend per path is what must be seen.
		exp.Sticky = true
		exp.Reason += "; sessionAffinity=ClientIP: every connection from one client reaches the same backend"
	}
	attempts := 1
	// HTTP body, a UDP reply (an echo may name its pod: if it does not, the
	// first answer stops the loop), or conntrack on the node.
	attributable := pc.http || pc.port.Protocol == probe.ProtocolUDP || from.Node() != ""
	switch {
	case exp.Sticky && attributable:
		attempts = 5
	case attributable && exp.Want == probe.Reach && len(backends) > 1 && kind.Route == probe.RouteForwarded:
		attempts = Budget(len(backends))
	}
	if len(backends) == 0 {
		backends = nil
	}
	skip := pc.skip
	if skip == "" && port == 0 {
		skip = "no target port resolved"
	}
	key := kind.Key(probe.Target{From: from, Node: node, AddressType: addrType, Host: host, Endpoints: pc.epKeys})
	b.probes = append(b.probes, probe.Probe{
		ID:           b.id(pc, from, via, key),
		Key:          key,
		Namespace:    pc.svc.Namespace,
		Service:      pc.svc.Name,
		Port:         pc.port.Label(),
		ServicePort:  pc.port.Port,
		Protocol:     pc.port.Protocol,
		From:         from,
		Via:          via,
		Node:         node,
		AddressType:  addrType,
		Pod:          pod,
		Host:         host,
		TargetPort:   port,
		HTTP:         pc.http,
		Connections:  attempts,
		Backends:     backends,
		BackendAddrs: pc.addrs,
		BackendHosts: pc.hosts,
		Expect:       exp,
		Skip:         skip,
		SkipCause:    pc.cause,
	})
	b.adjust(&b.probes[len(b.probes)-1])
}

// adjust runs Options.Adjust on a probe just planned. A probe that no longer
// has to reach makes one connection: the budget was for seeing backends.
func (b *planner) adjust(p *probe.Probe) {
	want := p.Expect.Want
	for _, f := range b.opts.Adjust {
		f(p)
	}
	if want == probe.Reach && p.Expect.Want != probe.Reach {
		p.Connections = 1
	}
}

// id is namespace/service/port/from/via/key: stable across rollouts and node
// address changes, since the key names nodes and pods' owners, never IPs.
func (b *planner) id(pc *portCtx, from probe.From, via probe.Via, key string) string {
	buf := b.idBuf[:0]
	for i, s := range []string{pc.svc.Namespace, pc.svc.Name, pc.port.Label(), string(from), string(via), key} {
		if i > 0 {
			buf = append(buf, '/')
		}
		buf = append(buf, s...)
	}
	b.idBuf = buf
	return string(buf)
}

// v6 marks an IPv6 target so both families of a dual-stack target differ.
func v6(ip string) string {
	if strings.Contains(ip, ":") {
		return "/ipv6"
	}
	return ""
}

// endpointKeys names a Service's endpoints by owner and position: the i-th
// pod of Deployment/web is "Deployment/web#i", so the same position keeps
// its name when a rollout replaces the pods. Positions go to ready pods
// first, then not-ready ones, then terminating ones, each by name: old pods
// still terminating after a rollout do not push the new ready ones to other
// positions. Pods without an owner keep their own name; endpoints without a
// pod their address.
func (b *planner) endpointKeys(svc *probe.Service) map[string]string {
	rank := map[string]int{} // pod -> 0 ready, 1 not ready, 2 terminating: its best endpoint
	byOwner := map[string][]string{}
	for _, ep := range svc.Endpoints {
		if ep.PodName == "" {
			continue
		}
		r := 1
		switch {
		case ep.Terminating:
			r = 2
		case ep.Ready:
			r = 0
		}
		old, seen := rank[ep.PodName]
		if !seen || r < old {
			rank[ep.PodName] = r
		}
		if !seen { // a pod with several addresses (dual-stack) is listed once
			o := b.owners[svc.Namespace+"/"+ep.PodName]
			byOwner[o] = append(byOwner[o], ep.PodName)
		}
	}
	for _, pods := range byOwner {
		sort.Slice(pods, func(i, j int) bool {
			if rank[pods[i]] != rank[pods[j]] {
				return rank[pods[i]] < rank[pods[j]]
			}
			return pods[i] < pods[j]
		})
	}
	pos := make(map[string]int, len(rank)) // pod -> its position among its owner's pods
	for _, pods := range byOwner {
		for i, p := range pods {
			pos[p] = i
		}
	}
	keys := make(map[string]string, len(svc.Endpoints))
	for _, ep := range svc.Endpoints {
		k := ep.Address
		if ep.PodName != "" {
			k = ep.PodName
			if o := b.owners[svc.Namespace+"/"+ep.PodName]; o != "" {
				k = fmt.Sprintf("%s#%d", o, pos[ep.PodName])
			}
			k += v6(ep.Address)
		}
		keys[ep.Address] = k
	}
	return keys
}
