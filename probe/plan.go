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
)

// Via names the path a probe takes to the Service.
type Via string

// Paths.
const (
	ViaEndpoint     Via = "endpoint"
	ViaClusterIP    Via = "clusterIP"
	ViaNodePort     Via = "nodePort"
	ViaLoadBalancer Via = "loadBalancer"
	ViaDNS          Via = "dns"
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
	Backends []string    `json:"backends,omitempty"`
	Expect   Expectation `json:"expect"`
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

// Budget is the default number of connections spent through a VIP to see
// every one of n backends: about 3·n·ln n + 5 (coupon collector with margin).
func Budget(n int) int {
	if n <= 1 {
		return max(n, 1) + 4
	}
	return int(math.Ceil(3*float64(n)*math.Log(float64(n)))) + 5
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
	nodes := append([]Node(nil), inv.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	b := planner{opts: opts, nodes: nodes, addrTypes: addrTypes, domain: domain}
	b.probes = make([]Probe, 0, b.estimate(inv))
	for i := range inv.Services {
		b.service(&inv.Services[i])
	}
	return Plan{Probes: b.probes}
}

// estimate counts the probes BuildPlan will make (exactly, for TCP ports with
// resolved targets), so the plan is allocated once.
func (b *planner) estimate(inv Inventory) int {
	n := 0
	nodeAddrs := map[string]int{}
	for _, nd := range b.nodes {
		for _, at := range b.addrTypes {
			nodeAddrs["local"] += len(uniqueAddrs(nd.Addresses[at]))
		}
		nodeAddrs["pod"] += len(uniqueAddrs(nd.Addresses["InternalIP"]))
	}
	for i := range inv.Services {
		s := &inv.Services[i]
		if s.Type == TypeExternalName {
			continue
		}
		for _, p := range s.Ports {
			for _, from := range b.opts.From {
				n += len(s.ClusterIPs)
				if from == FromLocal {
					if p.NodePort != 0 {
						n += nodeAddrs["local"]
					}
					if s.Type == TypeLoadBalancer {
						n += len(s.LoadBalancerIngress)
					}
				} else {
					n += len(s.Endpoints) + 1
					if p.NodePort != 0 {
						n += nodeAddrs["pod"]
					}
				}
			}
		}
	}
	return n
}

type planner struct {
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
	byNode   map[string][]string // ready endpoint pods per node (ETP=Local)
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
			if svc.ExternalTrafficPolicy == PolicyLocal {
				if pc.byNode == nil {
					pc.byNode = map[string][]string{}
				}
				pc.byNode[ep.NodeName] = append(pc.byNode[ep.NodeName], ep.PodName)
			}
		}
		sort.Strings(pc.backends)
		for _, from := range b.opts.From {
			switch from {
			case FromLocal:
				b.local(&pc)
			case FromPod:
				b.inCluster(&pc, from)
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
				Expectation{Reach, "LoadBalancer ingress answers from outside the cluster"})
		}
	}
	for _, ip := range svc.ClusterIPs {
		b.add(pc, FromLocal, ViaClusterIP, "", "", "", ip, pc.port.Port, nil,
			Expectation{NoReach, "a ClusterIP is cluster-internal: answering from outside is an exposure"})
	}
}

func (b *planner) nodePortExpectation(pc *portCtx, node string) (Expectation, []string) {
	if pc.svc.ExternalTrafficPolicy == PolicyLocal {
		if local := pc.byNode[node]; len(local) > 0 {
			return Expectation{Reach, "externalTrafficPolicy=Local and the node has a ready endpoint"}, local
		}
		return Expectation{NoReach, "externalTrafficPolicy=Local and the node has no ready endpoint: it must drop"}, nil
	}
	return Expectation{Reach, "a NodePort answers on every node"}, pc.backends
}

func (b *planner) inCluster(pc *portCtx, from From) {
	svc := pc.svc
	for _, ep := range svc.Endpoints {
		tp, ok := ep.Ports[pc.port.Name]
		if !ok {
			continue
		}
		exp := Expectation{Reach, "a ready endpoint answers on its target port"}
		switch {
		case ep.Terminating:
			exp = Expectation{Unknown, "endpoint is terminating"}
		case !ep.Ready:
			exp = Expectation{Unknown, "endpoint is not ready"}
		}
		var backends []string
		if ep.PodName != "" {
			backends = []string{ep.PodName}
		}
		b.add(pc, from, ViaEndpoint, ep.NodeName, "", ep.PodName, ep.Address, tp, backends, exp)
	}
	for _, ip := range svc.ClusterIPs {
		b.add(pc, from, ViaClusterIP, "", "", "", ip, pc.port.Port, pc.backends,
			Expectation{Reach, "the ClusterIP forwards to every ready endpoint"})
	}
	if pc.port.NodePort != 0 {
		for _, n := range b.nodes {
			for _, host := range uniqueAddrs(n.Addresses["InternalIP"]) {
				exp := Expectation{Reach, "a NodePort answers on every node"}
				if svc.ExternalTrafficPolicy == PolicyLocal {
					exp = Expectation{Unknown, "externalTrafficPolicy=Local: in-cluster NodePort traffic depends on the proxy"}
				}
				b.add(pc, from, ViaNodePort, n.Name, "InternalIP", "", host, pc.port.NodePort, pc.backends, exp)
			}
		}
	}
	name := svc.Name + "." + svc.Namespace + ".svc." + b.domain
	b.add(pc, from, ViaDNS, "", "", "", name, pc.port.Port, pc.backends,
		Expectation{Reach, "the Service's DNS name resolves and answers"})
}

func (b *planner) add(pc *portCtx, from From, via Via, node, addrType, pod, host string, port int32, backends []string, exp Expectation) {
	attempts := 1
	if pc.http && exp.Want == Reach && len(backends) > 1 {
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
		ID:          b.id(pc, from, via, host),
		Namespace:   pc.svc.Namespace,
		Service:     pc.svc.Name,
		Port:        pc.port.Label(),
		ServicePort: pc.port.Port,
		Protocol:    pc.port.Protocol,
		From:        from,
		Via:         via,
		Node:        node,
		AddressType: addrType,
		Pod:         pod,
		Host:        host,
		TargetPort:  port,
		HTTP:        pc.http,
		Attempts:    attempts,
		Backends:    backends,
		Expect:      exp,
		Skip:        skip,
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
