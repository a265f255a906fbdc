package probe

import (
	"net"
	"strconv"
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
	// Addresses, when set, are the only addresses the probe's DNS name may
	// resolve to: the Service's ClusterIPs, or a headless Service's
	// endpoints. A connection to any other address is a wrong DNS answer
	// (DNSError), however well the connection went.
	Addresses []string `json:"addresses,omitempty"`
	// Policies, when set, are the NetworkPolicies ("shop/default-deny")
	// that decided the expectation: they isolate the probe's target or
	// client (probe/policy).
	Policies []string `json:"policies,omitempty"`
}

// Probe is one planned check: a path from a vantage point to a Service port,
// with what should happen on it. Probes are data: the runner never decides
// what a probe expects.
type Probe struct {
	// ID is stable across runs and rollouts:
	// namespace/service/port/from/via/key, where the key names the node (and
	// address type) of a NodePort, the family of a ClusterIP, the owner and
	// position of an endpoint ("Deployment/web#0") — never an IP of a node or
	// pod. Host keeps the address.
	ID string `json:"id"`
	// Key is the last part of ID: what identifies the probe within its
	// Service port, vantage point and path kind ("lab-w1/InternalIP").
	Key       string `json:"key"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Port is the Service port's name, or its number when unnamed.
	Port        string   `json:"port"`
	ServicePort int32    `json:"servicePort"`
	Protocol    Protocol `json:"protocol"`
	From        From     `json:"from"`
	Via         Via      `json:"via"`
	// Node is the node whose NodePort is probed, or the node hosting the
	// endpoint probed directly.
	Node        string `json:"node,omitempty"`
	AddressType string `json:"addressType,omitempty"`
	// Pod is the endpoint's pod for a direct probe.
	Pod        string `json:"pod,omitempty"`
	Host       string `json:"host"`
	TargetPort int32  `json:"targetPort"`
	HTTP       bool   `json:"http,omitempty"`
	// Connections is the connection budget: 1 for a single check, more when the
	// prober repeats connections through a VIP until every backend answered.
	// (Whole-probe retries are tries, set per run, not per probe.)
	Connections int `json:"connections"`
	// Backends are the pods that may answer on this path; they drive
	// attribution and coverage. Probes of one Service port share the slice.
	Backends []string `json:"backends,omitempty"`
	// BackendAddrs maps every endpoint IP of the Service to its pod, for
	// attribution by connection tuple (conntrack). Shared, read-only.
	BackendAddrs map[string]string `json:"backendAddrs,omitempty"`
	// BackendHosts maps the node name of each hostNetwork backend to its
	// pod: such a pod's hostname is its node's, and an answer that names
	// the node names the pod. Shared, read-only; nil when there is none.
	BackendHosts map[string]string `json:"backendHosts,omitempty"`
	Expect       Expectation       `json:"expect"`
	// Skip, when set, is why the probe is planned but not run.
	Skip string `json:"skip,omitempty"`
	// SkipCause, when set, is Skip's cause as data.
	SkipCause NotRunCause `json:"skipCause,omitempty"`
	// Exception, when set, names the declared exception (probe/expect) that
	// set the probe's expectation or skipped it.
	Exception string `json:"exception,omitempty"`
}

// ServiceKey returns the key of the probe's Service, "namespace/name"
// (ServiceKey).
func (p *Probe) ServiceKey() string { return ServiceKey(p.Namespace, p.Service) }

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
