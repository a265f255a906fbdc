package policy

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Clients says who sends the traffic of the in-cluster vantage points.
type Clients struct {
	// Agent is the agent pod as policy sees it: Pod, Namespace, Labels and
	// Desc; its address is not known before it runs.
	Agent Host
	// AgentNode is the node the agent pod runs on when it is pinned (--node);
	// "" when the scheduler chooses.
	AgentNode string
}

// Adjuster sets the expectation of probes whose traffic NetworkPolicy does
// not admit. Where policy is enforced, and who the source is, follows what
// kube-network-policies and most implementations do:
//
//   - policy is evaluated after the proxy's DNAT (on the backend pod, never
//     on a ClusterIP) and before its SNAT, on the nodes the packet crosses:
//     NodePort traffic a node forwards to a pod on another node arrives
//     there from the forwarding node's address (kube-proxy masquerades it
//     unless externalTrafficPolicy=Local);
//   - the agent pod is a pod: selectors match it by its namespace and labels;
//     its address is known only once it runs, so an ipBlock that decides
//     leaves the answer unknown;
//   - node agents are hostNetwork: to policy they are their node's
//     InternalIP, matched by ipBlocks only, and a node's own traffic to its
//     local pods is always admitted (the NetworkPolicy API's rule, which
//     kube-network-policies implements by admitting traffic of the node's
//     root processes);
//   - svccheck's own machine is outside the cluster at an address it cannot
//     know after NAT: only an ipBlock of everything, or none, decides.
//
// A path whose backends or routes policy treats differently expects
// unknown, with the reason.
type Adjuster struct {
	set       *Set
	clients   Clients
	pods      map[string]*probe.Pod
	svcs      map[string]*probe.Service
	nodes     map[string]netip.Addr
	nodeNames []string
	nodeAddrs map[netip.Addr]bool
}

// NewAdjuster prepares the evaluation of probes planned from inv.
func NewAdjuster(inv *probe.Inventory, set *Set, c Clients) *Adjuster {
	own := *set
	set = &own
	a := &Adjuster{set: set, clients: c, pods: map[string]*probe.Pod{}, svcs: map[string]*probe.Service{},
		nodes: map[string]netip.Addr{}, nodeAddrs: map[netip.Addr]bool{}}
	for i := range inv.Pods {
		p := &inv.Pods[i]
		a.pods[p.Namespace+"/"+p.Name] = p
	}
	for i := range inv.Services {
		a.svcs[inv.Services[i].Key()] = &inv.Services[i]
	}
	for _, n := range inv.Nodes {
		for _, addrs := range n.Addresses {
			for _, s := range addrs {
				if ip := ParseAddr(s); ip.IsValid() {
					a.nodeAddrs[ip] = true
				}
			}
		}
		if ips := n.Addresses["InternalIP"]; len(ips) > 0 {
			a.nodes[n.Name] = ParseAddr(ips[0])
		}
		a.nodeNames = append(a.nodeNames, n.Name)
	}
	sort.Strings(a.nodeNames)
	for _, p := range inv.Pods {
		if ip := ParseAddr(p.PodIP); ip.IsValid() && !a.nodeAddrs[ip] {
			set.podAddrs = append(set.podAddrs, ip)
		}
	}
	return a
}

// target is one pod a probe's connections end at.
type target struct {
	host Host
	port int32
	node string
	// unknown, when set, is why policy cannot be evaluated for the pod.
	unknown string
}

// check is one evaluation a path needs: the egress policies of src, or the
// ingress policies of dst.
type check struct {
	src, dst Host
	port     int32
	egress   bool
}

// Adjust evaluates policy for a probe that must reach: when policy admits
// none of its connections it expects noReach, when it admits some only (or
// the answer depends on what svccheck cannot know) unknown, each with the
// reason and the policies that decided; when policy admits it, the reason
// names the policies that did.
func (a *Adjuster) Adjust(p *probe.Probe) {
	if len(a.set.Policies) == 0 || p.Skip != "" || p.Expect.Want != probe.Reach || p.Via.Kind().Route == probe.RouteProxy {
		return
	}
	var vs []Verdict
	for _, t := range a.targets(p) {
		if t.unknown != "" {
			vs = append(vs, Verdict{Admit: Maybe, Reason: t.unknown})
			continue
		}
		for _, path := range a.paths(p, t) {
			vs = append(vs, a.evaluate(path, p.Protocol))
		}
	}
	apply(p, combine(vs))
}

func (a *Adjuster) evaluate(path []check, protocol probe.Protocol) Verdict {
	v := Verdict{Admit: Yes}
	var reasons []string
	for _, c := range path {
		got := a.set.direction(c.src, c.dst, c.port, protocol, c.egress)
		v.Policies = union(v.Policies, got.Policies)
		if got.Admit < v.Admit {
			reasons = nil
		}
		if got.Admit <= v.Admit {
			reasons = appendNew(reasons, got.Reason)
		}
		v.Admit = and(v.Admit, got.Admit)
	}
	v.Reason = strings.Join(reasons, "; ")
	return v
}

// combine merges the verdicts of every backend and route of a path.
func combine(vs []Verdict) Verdict {
	if len(vs) == 0 {
		return Verdict{Admit: Yes}
	}
	out := Verdict{Admit: vs[0].Admit}
	var yes, no, maybe []string
	for _, v := range vs {
		out.Policies = union(out.Policies, v.Policies)
		switch v.Admit {
		case Yes:
			yes = appendNew(yes, v.Reason)
		case No:
			no = appendNew(no, v.Reason)
		default:
			maybe = appendNew(maybe, v.Reason)
		}
		if v.Admit != out.Admit {
			out.Admit = Maybe
		}
	}
	switch {
	case out.Admit == Yes:
		out.Reason = strings.Join(yes, "; ")
	case out.Admit == No:
		out.Reason = no[0]
	case len(maybe) > 0:
		out.Reason = maybe[0]
	default:
		out.Reason = no[0] + ", on some of this path's backends or routes only"
	}
	return out
}

func appendNew(ss []string, s string) []string {
	if s == "" || contains(ss, s) {
		return ss
	}
	return append(ss, s)
}

// apply records a verdict on a probe that had to reach.
func apply(p *probe.Probe, v Verdict) {
	if len(v.Policies) == 0 && v.Admit == Yes {
		return
	}
	p.Expect.Policies = v.Policies
	switch v.Admit {
	case Yes:
		p.Expect.Reason += "; " + v.Reason
	case No:
		p.Expect.Want, p.Expect.Reason = probe.NoReach, v.Reason
		p.Expect.Status, p.Expect.Sticky = 0, false
	default:
		p.Expect.Want, p.Expect.Reason = probe.Unknown, v.Reason
		p.Expect.Status, p.Expect.Sticky = 0, false
	}
}

// targets lists the pods p's connections end at: the endpoint's pod of a
// direct path, or every backend of a forwarded one, each on its target port.
func (a *Adjuster) targets(p *probe.Probe) []target {
	if p.Via.Kind().Route == probe.RouteDirect {
		if p.Pod == "" {
			return nil
		}
		return []target{a.target(p.Namespace, p.Pod, p.TargetPort)}
	}
	svc := a.svcs[p.ServiceKey()]
	portName := ""
	if svc != nil {
		for _, sp := range svc.Ports {
			if sp.Label() == p.Port {
				portName = sp.Name
			}
		}
	}
	var out []target
	for _, b := range p.Backends {
		port := p.TargetPort
		if svc != nil {
			for _, ep := range svc.Endpoints {
				if tp, ok := ep.Ports[portName]; ok && ep.PodName == b {
					port = tp
				}
			}
		}
		out = append(out, a.target(p.Namespace, b, port))
	}
	return out
}

func (a *Adjuster) target(ns, pod string, port int32) target {
	pd, ok := a.pods[ns+"/"+pod]
	if !ok {
		return target{unknown: "whether policy admits it depends on the labels of pod " + ns + "/" + pod + ", which discovery did not find"}
	}
	h := Host{Pod: true, Namespace: ns, Name: pod, Labels: pd.Labels, Addr: ParseAddr(pd.PodIP), Desc: "pod " + ns + "/" + pod}
	if a.nodeAddrs[h.Addr] {
		h.Pod = false // hostNetwork: no policy selects it
	}
	for _, cp := range pd.Ports {
		h.Ports = append(h.Ports, NamedPort{Name: cp.Name, Port: cp.Port, Protocol: cp.Protocol})
	}
	return target{host: h, port: port, node: pd.NodeName}
}

func (a *Adjuster) nodeHost(name string) Host {
	ip := a.nodes[name]
	desc := "node " + name
	if ip.IsValid() {
		desc += " (" + ip.String() + ")"
	}
	return Host{Addr: ip, Desc: desc}
}

// outside is svccheck's own machine as the cluster sees it.
var outside = Host{Desc: "svccheck's machine outside the cluster"}

func ingress(src Host, t target) check { return check{src: src, dst: t.host, port: t.port} }

// paths lists the ways p's connections may take to t, each as the checks
// policy makes on it; more than one when the route depends on what is not
// known before the run (the agent's node, the node a LoadBalancer picks).
func (a *Adjuster) paths(p *probe.Probe, t target) [][]check {
	svc := a.svcs[p.ServiceKey()]
	masq := svc == nil || svc.ExternalTrafficPolicy != probe.PolicyLocal
	switch {
	case p.From == probe.FromPod:
		return a.fromAgent(p, t, masq)
	case p.From.Node() != "":
		return a.fromNode(p.From.Node(), p, t)
	}
	return a.fromOutside(p, t, masq)
}

func (a *Adjuster) fromAgent(p *probe.Probe, t target, masq bool) [][]check {
	ag := a.clients.Agent
	toPod := check{src: ag, dst: t.host, port: t.port, egress: true}
	if p.Via.Kind().Through != probe.ThroughTarget {
		return [][]check{{toPod, ingress(ag, t)}}
	}
	x := a.nodeHost(p.Node)
	masqueraded := masq && t.node != p.Node
	from := ag // the source the target sees
	if masqueraded {
		from = x
	}
	var out [][]check
	if a.clients.AgentNode == "" || a.clients.AgentNode == p.Node {
		out = append(out, []check{toPod, ingress(from, t)}) // the agent's own node translates
	}
	if a.clients.AgentNode != p.Node {
		path := []check{{src: ag, dst: x, port: p.TargetPort, egress: true}, ingress(from, t)}
		if !masqueraded {
			path = append(path, toPod)
		}
		out = append(out, path)
	}
	return out
}

func (a *Adjuster) fromNode(n string, p *probe.Probe, t target) [][]check {
	from := n
	if p.Via.Kind().Through == probe.ThroughTarget && p.Node != n && t.node != p.Node {
		from = p.Node // forwarded and masqueraded by the probe's node
	}
	if from == t.node {
		return [][]check{{}} // a node's own traffic to its pods
	}
	return [][]check{{ingress(a.nodeHost(from), t)}}
}

func (a *Adjuster) fromOutside(p *probe.Probe, t target, masq bool) [][]check {
	through := p.Via.Kind().Through
	switch {
	case !masq || through == probe.ThroughNone || through == probe.ThroughVantage:
		return [][]check{{ingress(outside, t)}}
	case through == probe.ThroughTarget:
		if t.node == p.Node {
			return [][]check{{ingress(outside, t)}}
		}
		return [][]check{{ingress(a.nodeHost(p.Node), t)}}
	}
	// A path through any node (a LoadBalancer's) delivers to the target's
	// own node, or to another that forwards from its address.
	out := [][]check{{ingress(outside, t)}}
	for _, n := range a.nodeNames {
		if n != t.node {
			out = append(out, []check{ingress(a.nodeHost(n), t)})
		}
	}
	return out
}
