// Package diagnose turns a plan and its results into findings: one verdict per
// problem, naming the broken hop, each citing the probes that support it.
//
// Diagnosis applies an ordered list of rules to each Service (see rules).
// Each rule claims one kind of problem and cites the probes that support it;
// a rule that explains every failure of the Service ends the list, and the
// last rule explains whatever failure no earlier rule cited, so every failed
// probe is cited by some finding.
package diagnose

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// Severity ranks a Finding.
type Severity string

// Severities, most severe first.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

// AtLeast reports whether s is as severe as min.
func (s Severity) AtLeast(min Severity) bool { return s.rank() <= min.rank() }

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

// Code names a kind of finding. Its string is the stable "code" of the JSON
// report and the JUnit failure type.
type Code string

// Verdict codes, one per kind of problem a Service can have.
const (
	VerdictHealthy             Code = "healthy"
	VerdictNoEndpoints         Code = "noEndpoints"
	VerdictPortMismatch        Code = "portMismatch"
	VerdictEndpointNotReady    Code = "endpointNotReady"
	VerdictBackendNotListening Code = "backendNotListening"
	VerdictDataplaneBroken     Code = "dataplaneBroken"
	VerdictBlockedFromOperator Code = "blockedFromOperator"
	VerdictNodePathFailed      Code = "nodePathFailed"
	VerdictExposed             Code = "exposed"
	VerdictPartialCoverage     Code = "partialCoverage"
	VerdictNotSticky           Code = "notSticky"
	VerdictPathFailed          Code = "pathFailed"
	// VerdictBackendUnreachableFrom: a backend that answers from some
	// vantage points or through some nodes and not from or through others.
	VerdictBackendUnreachableFrom Code = "backendUnreachableFrom"
	// VerdictBackendHung: a backend that accepts connections and never
	// answers.
	VerdictBackendHung Code = "backendHung"
	// VerdictEndpointUnreachable: an endpoint address nothing answers at
	// from anywhere (connect timeouts, no route): no host behind it, or all
	// traffic to it dropped.
	VerdictEndpointUnreachable Code = "endpointUnreachable"
	// VerdictBackendUnreachable: a backend that answers from nowhere, with
	// outcomes that differ by vantage point.
	VerdictBackendUnreachable Code = "backendUnreachable"
	// VerdictApplicationError: a backend that answers with an HTTP 5xx.
	VerdictApplicationError Code = "applicationError"
	// VerdictNodePortBlocked: a node forwards (its own NodePort or
	// ClusterIP answers on it) but its NodePort fails from elsewhere: the
	// port is blocked on or in front of the node.
	VerdictNodePortBlocked Code = "nodePortBlocked"
	// VerdictStaleForwarding: the Service has no ready endpoint, yet a path
	// to it answered: forwarding has not caught up with the endpoints.
	VerdictStaleForwarding Code = "staleForwarding"
	// VerdictTerminatingFallback: the Service has no ready endpoint, and
	// its paths answer through pods that are terminating and still serving
	// (kube-proxy's fallback): nothing will answer once they exit.
	VerdictTerminatingFallback Code = "terminatingFallback"
	// VerdictHealthCheckMismatch: a node's healthCheckNodePort answers 200
	// without a ready local endpoint (kube-proxy's view is stale) or 503
	// with one (load balancers skip the node).
	VerdictHealthCheckMismatch Code = "healthCheckMismatch"
	// VerdictLoadBalancerNotDelivering: a LoadBalancer ingress fails from
	// here while the nodes behind it answer on the Service's NodePort.
	VerdictLoadBalancerNotDelivering Code = "loadBalancerNotDelivering"
	// VerdictDNSFailed: the Service's DNS name does not resolve from a
	// vantage point where its ClusterIP (or a headless Service's
	// endpoints) answers: the cluster DNS fails there.
	VerdictDNSFailed Code = "dnsFailed"
	// VerdictDNSWrongAnswer: the Service's DNS name resolves to an address
	// that is not the Service's.
	VerdictDNSWrongAnswer Code = "dnsWrongAnswer"
)

// Notes about the cluster or a Service that are not verdicts on a path.
const (
	NoteNodeNotReady      Code = "nodeNotReady"
	NoteNodeUnschedulable Code = "nodeUnschedulable"
	NoteExternalName      Code = "externalName"
	NoteProtocolNotProbed Code = "protocolNotProbed"
	// NoteExternalIPsNotProbed: the Service's spec.externalIPs, which are
	// not probed.
	NoteExternalIPsNotProbed Code = "externalIPsNotProbed"
	// NoteUDPSilent: UDP paths that got no reply, which proves nothing.
	NoteUDPSilent Code = "udpSilent"
)

// Finding is one conclusion about a Service, with the probes that support it.
type Finding struct {
	Namespace string   `json:"namespace"`
	Service   string   `json:"service"`
	Severity  Severity `json:"severity"`
	// Code is a verdict (see the Verdict constants) or a cluster note:
	// nodeNotReady, nodeUnschedulable, externalName, protocolNotProbed.
	Code    Code     `json:"code"`
	Message string   `json:"message"`
	Node    string   `json:"node,omitempty"`
	Pod     string   `json:"pod,omitempty"`
	Probes  []string `json:"probes,omitempty"`
	// List, when set, is the message as a list, which a renderer may cut
	// to a few members: the message is List.Text().
	List *List `json:"-"`
}

// List is a finding's message made of a lead, members and a tail: "lead:
// m1; m2; m3 tail". The members grow with the cluster (one per node of a
// failing NodePort), so a table shows a few.
type List struct {
	Lead    string
	Members []string
	Tail    string
}

// Text is the whole message.
func (l *List) Text() string { return l.Lead + ": " + strings.Join(l.Members, "; ") + l.Tail }

// ServiceKey returns the key of the Service the finding is about,
// "namespace/name" (probe.ServiceKey); "/" for a finding about no Service.
func (f *Finding) ServiceKey() string { return probe.ServiceKey(f.Namespace, f.Service) }

// Diagnose correlates the results of every vantage point with the inventory
// into verdicts that name the broken hop, and adds what facts says of the
// run. A failure explained by a verdict (no endpoints explains every refused
// path) yields no finding of its own; every failed probe is covered by some
// finding. Findings come in this order: the run's own (unreachable nodes,
// the deadline), node notes, then each Service's findings in inventory
// order, each Service's in the order of rules, then ExpectationNotes.
func Diagnose(inv probe.Inventory, plan probe.Plan, results []probe.Result, facts RunFacts) []Finding {
	out := runFindings(&plan, results, &facts)
	out = append(out, nodeNotes(inv.Nodes)...)
	byKey := map[string][]int{}
	for i := range plan.Probes {
		p := &plan.Probes[i]
		k := p.ServiceKey()
		byKey[k] = append(byKey[k], i)
	}
	memo := &runFacts{}
	for i := range inv.Services {
		svc := &inv.Services[i]
		c := newSvcContext(svc, inv.Pods, &plan, results, byKey[svc.Key()], memo, inv.ClusterDNS)
		fs := c.run(rules)
		facts.hintRecent(svc, fs)
		out = append(out, fs...)
	}
	return append(out, ExpectationNotes(inv, plan, facts.Expectations)...)
}

// nodeNotes warns about NotReady nodes and notes cordoned ones.
func nodeNotes(nodes []probe.Node) []Finding {
	var out []Finding
	for _, n := range nodes {
		if !n.Ready {
			out = append(out, Finding{Severity: SevWarning, Code: NoteNodeNotReady, Node: n.Name,
				Message: fmt.Sprintf("node %s is NotReady (its paths are still probed from outside)", n.Name)})
		} else if n.Unschedulable {
			out = append(out, Finding{Severity: SevInfo, Code: NoteNodeUnschedulable, Node: n.Name,
				Message: fmt.Sprintf("node %s is cordoned (its paths are still probed)", n.Name)})
		}
	}
	return out
}

func missing(all, seen []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(seen, a) {
			out = append(out, a)
		}
	}
	return out
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func selectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + sel[k]
	}
	return strings.Join(keys, ",")
}

func nameOr(name, alt string) string {
	if name != "" {
		return name
	}
	return alt
}

func firstOr(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func plural(n int, many, one string) string {
	if n == 1 {
		return one
	}
	return many
}
