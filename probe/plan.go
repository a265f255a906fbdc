package probe

import (
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
)

// From names a vantage point: FromLocal (the operator's machine), FromPod (an
// agent pod on the pod network) or "node/<name>" (a hostNetwork agent).
type From string

// Vantage points.
const (
	FromLocal From = "local"
	FromPod   From = "pod"
	// FromNodes in PlanOptions.From stands for one FromNode per Ready node.
	FromNodes From = "nodes"
)

// FromNode is the vantage point of a hostNetwork agent on the named node.
func FromNode(name string) From { return From("node/" + name) }

// Node returns the node name of a node vantage point, or "".
func (f From) Node() string {
	if len(f) > 5 && f[:5] == "node/" {
		return string(f[5:])
	}
	return ""
}

// Via names the path a probe takes to the Service.
type Via string

// Paths.
const (
	ViaEndpoint     Via = "endpoint"
	ViaClusterIP    Via = "clusterIP"
	ViaNodePort     Via = "nodePort"
	ViaLoadBalancer Via = "loadBalancer"
	ViaDNS          Via = "dns"
	// ViaHealthCheck is kube-proxy's healthCheckNodePort of an
	// externalTrafficPolicy=Local LoadBalancer Service.
	ViaHealthCheck Via = "healthCheck"
)

// Want is what a probe is expected to observe.
type Want string

// Expectations.
const (
	Reach   Want = "reach"
	NoReach Want = "noReach"
	Unknown Want = "unknown"
)

// Expectation is what should happen on a probe's path, and why.
type Expectation struct {
	Want   Want   `json:"want"`
	Reason string `json:"reason"`
	// Status, when set, is the HTTP status the path must answer with.
	Status int `json:"status,omitempty"`
	// Sticky requires every connection to reach the same backend
	// (sessionAffinity=ClientIP).
	Sticky bool `json:"sticky,omitempty"`
}

// Probe is one planned check: a path from a vantage point to a Service port,
// with what should happen on it. Probes are data: the runner never decides
// what a probe expects.
type Probe struct {
	// ID is stable across runs for the same inventory:
	// namespace/service/port/from/via/host.
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Port is the Service port's name, or its number when unnamed.
	Port        string `json:"port"`
	ServicePort int32  `json:"servicePort"`
	Protocol    string `json:"protocol"`
	From        From   `json:"from"`
	Via         Via    `json:"via"`
	// Node is the node whose NodePort is probed, or the node hosting the
	// endpoint probed directly.
	Node        string `json:"node,omitempty"`
	AddressType string `json:"addressType,omitempty"`
	// Pod is the endpoint's pod for a direct probe.
	Pod        string `json:"pod,omitempty"`
	Host       string `json:"host"`
	TargetPort int32  `json:"targetPort"`
	HTTP       bool   `json:"http,omitempty"`
	// Attempts is the connection budget: 1 for a single check, more when the
	// prober repeats connections through a VIP until every backend answered.
	Attempts int `json:"attempts"`
	// Backends are the pods that may answer on this path; they drive
	// attribution and coverage. Probes of one Service port share the slice.
	Backends []string `json:"backends,omitempty"`
	// BackendAddrs maps every endpoint IP of the Service to its pod, for
	// attribution by connection tuple (conntrack). Shared, read-only.
	BackendAddrs map[string]string `json:"backendAddrs,omitempty"`
	Expect       Expectation       `json:"expect"`
	// Skip, when set, is why the probe is planned but not run.
	Skip string `json:"skip,omitempty"`
}

// Address returns host:port.
func (p *Probe) Address() string {
	return net.JoinHostPort(p.Host, strconv.Itoa(int(p.TargetPort)))
}

// Plan is the ordered list of probes for one run.
type Plan struct {
	Probes []Probe `json:"probes"`
	// AgentNodes records which node each in-cluster vantage point ran on
	// (the agent pod's node), so failures from it can be placed on a node.
	AgentNodes map[From]string `json:"agentNodes,omitempty"`
}

// NodeOf returns the node a vantage point probes from, or "".
func (pl *Plan) NodeOf(f From) string {
	if n := f.Node(); n != "" {
		return n
	}
	return pl.AgentNodes[f]
}

// PlanOptions select what BuildPlan plans.
type PlanOptions struct {
	// From lists the vantage points to plan for (FromLocal, FromPod).
	From []From
	// AddressTypes are the node address types whose NodePorts are probed from
	// the operator's machine, e.g. InternalIP, ExternalIP.
	AddressTypes []string
	// HTTP forces HTTP probes (and attribution) on every TCP port; otherwise
	// only ports whose name or appProtocol says http use HTTP.
	HTTP bool
	// ClusterDomain is the cluster's DNS domain; "cluster.local" when empty.
	ClusterDomain string
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
func IsHTTP(p ServicePort) bool {
	for _, s := range []string{strings.ToLower(p.AppProtocol), strings.ToLower(p.Name)} {
		if s == "http" || s == "kubernetes.io/h2c" || strings.HasPrefix(s, "http-") {
			return true
		}
	}
	return false
}

// BuildPlan derives every probe for the inventory. It is pure and
// deterministic: the same inventory and options give the same plan.
func BuildPlan(inv Inventory, opts PlanOptions) Plan {
	domain := opts.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	addrTypes := opts.AddressTypes
	if len(addrTypes) == 0 {
		addrTypes = []string{"InternalIP"}
	}
	b := newPlanner(inv, opts, addrTypes, domain)
	b.probes = make([]Probe, 0, b.estimate(inv))
	for i := range inv.Services {
		b.service(&inv.Services[i])
	}
	return Plan{Probes: b.probes}
}

func newPlanner(inv Inventory, opts PlanOptions, addrTypes []string, domain string) *planner {
	nodes := append([]Node(nil), inv.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	b := &planner{opts: opts, nodes: nodes, addrTypes: addrTypes, domain: domain, nodeAddr: map[string]bool{}}
	for _, n := range nodes {
		for _, addrs := range n.Addresses {
			for _, a := range addrs {
				b.nodeAddr[a] = true
			}
		}
	}
	return b
}

// estimate counts the probes BuildPlan will make, so the plan is allocated once.
func (b *planner) estimate(inv Inventory) int {
	n, localNodeAddrs, internalAddrs, readyNodes := 0, 0, 0, 0
	for _, nd := range b.nodes {
		for _, at := range b.addrTypes {
			localNodeAddrs += len(uniqueAddrs(nd.Addresses[at]))
		}
		internalAddrs += len(uniqueAddrs(nd.Addresses["InternalIP"]))
		if nd.Ready {
			readyNodes++
		}
	}
	for i := range inv.Services {
		s := &inv.Services[i]
		if s.Type == TypeExternalName {
			continue
		}
		for pi, p := range s.Ports {
			eps, ready := 0, false
			for _, ep := range s.Endpoints {
				if _, ok := ep.Ports[p.Name]; ok {
					eps++
					ready = ready || ep.Ready && ep.PodName != "" && !b.nodeAddr[ep.Address]
				}
			}
			inside := eps + len(s.ClusterIPs)
			if p.NodePort != 0 {
				inside += internalAddrs
			}
			for _, from := range b.opts.From {
				switch from {
				case FromLocal:
					n += len(s.ClusterIPs)
					if p.NodePort != 0 {
						n += localNodeAddrs
					}
					if s.Type == TypeLoadBalancer {
						n += len(s.LoadBalancerIngress)
					}
					if ready {
						n++
					}
					if s.HealthCheckNodePort != 0 && pi == 0 {
						n += internalAddrs
					}
				case FromPod:
					n += inside + 1
				case FromNodes:
					n += inside * readyNodes
				}
			}
		}
	}
	return n
}

type planner struct {
	nodeAddr  map[string]bool // every node address: endpoints there are not on the pod network
	opts      PlanOptions
	nodes     []Node
	addrTypes []string
	domain    string
	probes    []Probe
	idBuf     []byte
}

// portCtx is what every probe of one Service port shares.
type portCtx struct {
	svc      *Service
	port     ServicePort
	http     bool
	skip     string
	backends []string            // ready endpoint pods, sorted
	byNode   map[string][]string // ready endpoint pods per node
	addrs    map[string]string   // endpoint IP -> pod, shared by the port's probes
}

func (b *planner) service(svc *Service) {
	if svc.Type == TypeExternalName {
		return // nothing in the cluster forwards it; reported as a finding
	}
	for _, port := range svc.Ports {
		pc := portCtx{svc: svc, port: port, http: port.Protocol == "TCP" && (b.opts.HTTP || IsHTTP(port))}
		if port.Protocol != "TCP" {
			pc.skip = "protocol " + port.Protocol + " is not probed"
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
			}
		}
		for _, from := range b.opts.From {
			switch from {
			case FromLocal:
				b.local(&pc)
			case FromPod:
				b.inCluster(&pc, from)
			case FromNodes:
				for _, n := range b.nodes {
					if n.Ready {
						b.inCluster(&pc, FromNode(n.Name))
					}
				}
			}
		}
	}
}

func (b *planner) local(pc *portCtx) {
	svc := pc.svc
	if pc.port.NodePort != 0 {
		for _, n := range b.nodes {
			for _, at := range b.addrTypes {
				for _, host := range uniqueAddrs(n.Addresses[at]) {
					exp, backends := b.nodePortExpectation(pc, n.Name)
					b.add(pc, FromLocal, ViaNodePort, n.Name, at, "", host, pc.port.NodePort, backends, exp)
				}
			}
		}
	}
	if svc.Type == TypeLoadBalancer {
		for _, ing := range svc.LoadBalancerIngress {
			b.add(pc, FromLocal, ViaLoadBalancer, "", "", "", ing, pc.port.Port, pc.backends,
				Expectation{Want: Reach, Reason: "LoadBalancer ingress answers from outside the cluster"})
		}
	}
	for _, ip := range svc.ClusterIPs {
		b.add(pc, FromLocal, ViaClusterIP, "", "", "", ip, pc.port.Port, nil,
			Expectation{Want: NoReach, Reason: "a ClusterIP is cluster-internal: answering from outside is an exposure"})
	}
	// One pod IP per Service port stands for the pod network: reachable from
	// outside means every pod is exposed. Endpoints on a node's own address
	// (hostNetwork pods, the API server) are meant to answer there.
	for _, ep := range svc.Endpoints {
		if tp, ok := ep.Ports[pc.port.Name]; ok && ep.Ready && ep.PodName != "" && !b.nodeAddr[ep.Address] {
			b.add(pc, FromLocal, ViaEndpoint, ep.NodeName, "", ep.PodName, ep.Address, tp, nil,
				Expectation{Want: NoReach, Reason: "pod IPs are cluster-internal: answering from outside is an exposure"})
			break
		}
	}
	if hc := svc.HealthCheckNodePort; hc != 0 && pc.port == svc.Ports[0] {
		for _, n := range b.nodes {
			for _, host := range uniqueAddrs(n.Addresses["InternalIP"]) {
				exp := Expectation{Want: Reach, Status: 503, Reason: "healthCheckNodePort answers 503 on a node without a ready local endpoint"}
				if len(pc.byNode[n.Name]) > 0 {
					exp = Expectation{Want: Reach, Status: 200, Reason: "healthCheckNodePort answers 200 on a node with a ready local endpoint"}
				}
				hp := *pc
				hp.http = true
				b.add(&hp, FromLocal, ViaHealthCheck, n.Name, "InternalIP", "", host, hc, nil, exp)
			}
		}
	}
}

func (b *planner) nodePortExpectation(pc *portCtx, node string) (Expectation, []string) {
	if pc.svc.ExternalTrafficPolicy == PolicyLocal {
		if local := pc.byNode[node]; len(local) > 0 {
			return Expectation{Want: Reach, Reason: "externalTrafficPolicy=Local and the node has a ready endpoint"}, local
		}
		return Expectation{Want: NoReach, Reason: "externalTrafficPolicy=Local and the node has no ready endpoint: it must drop"}, nil
	}
	return Expectation{Want: Reach, Reason: "a NodePort answers on every node"}, pc.backends
}

func (b *planner) inCluster(pc *portCtx, from From) {
	svc := pc.svc
	self := from.Node() // "" for an agent pod
	for _, ep := range svc.Endpoints {
		tp, ok := ep.Ports[pc.port.Name]
		if !ok {
			continue
		}
		exp := Expectation{Want: Reach, Reason: "a ready endpoint answers on its target port"}
		switch {
		case ep.Terminating:
			exp = Expectation{Want: Unknown, Reason: "endpoint is terminating"}
		case !ep.Ready:
			exp = Expectation{Want: Unknown, Reason: "endpoint is not ready"}
		}
		var backends []string
		if ep.PodName != "" {
			backends = []string{ep.PodName}
		}
		b.add(pc, from, ViaEndpoint, ep.NodeName, "", ep.PodName, ep.Address, tp, backends, exp)
	}
	for _, ip := range svc.ClusterIPs {
		exp, backends := Expectation{Want: Reach, Reason: "the ClusterIP forwards to every ready endpoint"}, pc.backends
		if svc.InternalTrafficPolicy == PolicyLocal && self != "" {
			backends = pc.byNode[self]
			exp = Expectation{Want: Reach, Reason: "internalTrafficPolicy=Local and the node has a ready endpoint: only it answers"}
			if len(backends) == 0 {
				exp = Expectation{Want: NoReach, Reason: "internalTrafficPolicy=Local and the node has no ready endpoint: it must drop"}
			}
		}
		if svc.SessionAffinity == "ClientIP" && exp.Want == Reach {
			exp.Sticky = true
			exp.Reason = "sessionAffinity=ClientIP: every connection from one client reaches the same backend"
		}
		b.add(pc, from, ViaClusterIP, "", "", "", ip, pc.port.Port, backends, exp)
	}
	if pc.port.NodePort != 0 {
		for _, n := range b.nodes {
			for _, host := range uniqueAddrs(n.Addresses["InternalIP"]) {
				exp, backends := Expectation{Want: Reach, Reason: "a NodePort answers on every node"}, pc.backends
				switch {
				case svc.ExternalTrafficPolicy != PolicyLocal:
				case self == n.Name:
					exp.Reason = "externalTrafficPolicy=Local: a node's own traffic to its NodePort goes to any endpoint"
				case self != "":
					exp, backends = b.nodePortExpectation(pc, n.Name)
				default:
					exp = Expectation{Want: Unknown, Reason: "externalTrafficPolicy=Local: pod traffic to a NodePort depends on the proxy"}
				}
				b.add(pc, from, ViaNodePort, n.Name, "InternalIP", "", host, pc.port.NodePort, backends, exp)
			}
		}
	}
	if self == "" { // a hostNetwork agent resolves with the node's resolver, not cluster DNS
		name := svc.Name + "." + svc.Namespace + ".svc." + b.domain
		b.add(pc, from, ViaDNS, "", "", "", name, pc.port.Port, pc.backends,
			Expectation{Want: Reach, Reason: "the Service's DNS name resolves and answers"})
	}
}

func (b *planner) add(pc *portCtx, from From, via Via, node, addrType, pod, host string, port int32, backends []string, exp Expectation) {
	attempts := 1
	attributable := pc.http || from.Node() != "" // HTTP body, or conntrack on the node
	switch {
	case exp.Sticky && attributable:
		attempts = 5
	case attributable && exp.Want == Reach && len(backends) > 1 && via != ViaEndpoint:
		attempts = Budget(len(backends))
	}
	if len(backends) == 0 {
		backends = nil
	}
	skip := pc.skip
	if skip == "" && port == 0 {
		skip = "no target port resolved"
	}
	b.probes = append(b.probes, Probe{
		ID:           b.id(pc, from, via, host),
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
		Attempts:     attempts,
		Backends:     backends,
		BackendAddrs: pc.addrs,
		Expect:       exp,
		Skip:         skip,
	})
}

func (b *planner) id(pc *portCtx, from From, via Via, host string) string {
	buf := b.idBuf[:0]
	for i, s := range []string{pc.svc.Namespace, pc.svc.Name, pc.port.Label(), string(from), string(via), host} {
		if i > 0 {
			buf = append(buf, '/')
		}
		buf = append(buf, s...)
	}
	b.idBuf = buf
	return string(buf)
}

func uniqueAddrs(addrs []string) []string {
	if len(addrs) < 2 {
		return addrs
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		dup := false
		for _, o := range out {
			dup = dup || o == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}
