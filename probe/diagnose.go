package probe

import (
	"fmt"
	"sort"
	"strings"
)

// Severity ranks a Finding.
type Severity string

// Severities.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

// Finding is one conclusion about a Service, with the probes that support it.
type Finding struct {
	Namespace string   `json:"namespace"`
	Service   string   `json:"service"`
	Severity  Severity `json:"severity"`
	// Code is a stable, machine-readable name: noEndpoints, endpointsNotReady,
	// externalName, nodeNotReady, protocolNotProbed, pathFailed, exposed,
	// partialCoverage.
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Probes  []string `json:"probes,omitempty"`
}

// Diagnose turns the inventory and the results of a plan into findings:
// static ones (no endpoints, ExternalName, nodes not ready) and one per broken
// hop (a path that failed its expectation, grouped by path and node).
func Diagnose(inv Inventory, plan Plan, results []Result) []Finding {
	var out []Finding
	byKey := map[string][]int{}
	for i := range plan.Probes {
		p := &plan.Probes[i]
		k := p.Namespace + "/" + p.Service
		byKey[k] = append(byKey[k], i)
	}
	for _, n := range inv.Nodes {
		if !n.Ready {
			out = append(out, Finding{Severity: SevWarning, Code: "nodeNotReady",
				Message: fmt.Sprintf("node %s is NotReady (its paths are still probed)", n.Name)})
		} else if n.Unschedulable {
			out = append(out, Finding{Severity: SevInfo, Code: "nodeUnschedulable",
				Message: fmt.Sprintf("node %s is cordoned (its paths are still probed)", n.Name)})
		}
	}
	for i := range inv.Services {
		svc := &inv.Services[i]
		static := staticFindings(svc, inv.Pods)
		explained := false
		for _, f := range static {
			explained = explained || f.Code == "noEndpoints"
		}
		out = append(out, static...)
		out = append(out, pathFindings(svc, plan, results, byKey[svc.Key()], explained)...)
	}
	return out
}

func finding(svc *Service, sev Severity, code, format string, args ...any) Finding {
	return Finding{Namespace: svc.Namespace, Service: svc.Name, Severity: sev, Code: code, Message: fmt.Sprintf(format, args...)}
}

func staticFindings(svc *Service, pods []Pod) []Finding {
	if svc.Type == TypeExternalName {
		return []Finding{finding(svc, SevInfo, "externalName",
			"ExternalName Service (CNAME to %s): nothing in the cluster forwards it, not probed", svc.ExternalName)}
	}
	var out []Finding
	for _, p := range svc.Ports {
		if p.Protocol != "TCP" {
			out = append(out, finding(svc, SevInfo, "protocolNotProbed", "port %s is %s: not probed", p.Label(), p.Protocol))
		}
	}
	ready, notReady := 0, []string{}
	for _, ep := range svc.Endpoints {
		switch {
		case ep.Ready:
			ready++
		case !ep.Terminating:
			notReady = append(notReady, nameOr(ep.PodName, ep.Address))
		}
	}
	if ready == 0 {
		out = append(out, finding(svc, SevError, "noEndpoints", "no ready endpoints: %s", explainEmpty(svc, pods, notReady)))
	} else if len(notReady) > 0 {
		out = append(out, finding(svc, SevWarning, "endpointsNotReady", "%d of %d endpoints not ready: %s",
			len(notReady), len(notReady)+ready, strings.Join(notReady, ", ")))
	}
	return out
}

func explainEmpty(svc *Service, pods []Pod, notReady []string) string {
	if len(svc.Selector) == 0 {
		return "the Service has no selector and nobody manages its EndpointSlices"
	}
	sel := selectorString(svc.Selector)
	var matched []string
	for _, p := range pods {
		if p.Namespace == svc.Namespace && matches(svc.Selector, p.Labels) {
			matched = append(matched, p.Name)
		}
	}
	switch {
	case len(matched) == 0:
		return fmt.Sprintf("selector %s matches no pod in namespace %s", sel, svc.Namespace)
	case len(notReady) > 0:
		return fmt.Sprintf("selector %s matches %d pods, none ready (%s)", sel, len(matched), strings.Join(notReady, ", "))
	default:
		return fmt.Sprintf("selector %s matches %d pods (%s) but none is a ready endpoint", sel, len(matched), strings.Join(matched, ", "))
	}
}

func pathFindings(svc *Service, plan Plan, results []Result, idx []int, explained bool) []Finding {
	type group struct {
		code, hop string
		sev       Severity
		probes    []string
		members   []string // nodes or targets, with what happened
		total     int      // probes on this hop
	}
	groups := map[string]*group{}
	var order []string
	totals := map[string]int{}
	for _, i := range idx {
		p := &plan.Probes[i]
		totals[hopKey(p)]++
	}
	add := func(code string, sev Severity, p *Probe, member string) {
		key := code + "|" + hopKey(p)
		g, ok := groups[key]
		if !ok {
			g = &group{code: code, sev: sev, hop: describeHop(p), total: totals[hopKey(p)]}
			groups[key] = g
			order = append(order, key)
		}
		g.probes = append(g.probes, p.ID)
		g.members = append(g.members, member)
	}
	for _, i := range idx {
		p, r := &plan.Probes[i], &results[i]
		if r.Outcome == NotRun {
			continue
		}
		where := p.Address()
		if p.Via == ViaNodePort {
			where = p.Node + " (" + p.Address() + ")"
		}
		switch {
		case !r.Pass && p.Expect.Want == NoReach:
			add("exposed", SevError, p, where+" answered")
		case !r.Pass && explained && p.Via != ViaEndpoint:
			// The Service has no ready endpoints: that finding explains it.
		case !r.Pass:
			what := string(r.Outcome)
			if r.Failures > 0 && r.Failures < r.Attempts {
				what = fmt.Sprintf("%d of %d connections %s", r.Failures, r.Attempts, r.Outcome)
			}
			add("pathFailed", SevError, p, where+" "+what)
		case p.Expect.Want == Reach && len(p.Backends) > 1 && len(r.Seen) > 0 && len(r.Seen) < len(p.Backends):
			add("partialCoverage", SevWarning, p, fmt.Sprintf("%s saw %d of %d backends in %d connections, never %s",
				where, len(r.Seen), len(p.Backends), r.Attempts, strings.Join(missing(p.Backends, r.Seen), ", ")))
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		msg := g.hop + ": " + strings.Join(g.members, "; ")
		switch {
		case g.code == "exposed":
			msg += " from outside the cluster, but must not"
		case g.code == "pathFailed" && g.total > 1 && len(g.members) == g.total:
			msg += fmt.Sprintf(" (all %d fail: the Service, not one node)", g.total)
		}
		f := finding(svc, g.sev, g.code, "%s", msg)
		f.Probes = g.probes
		out = append(out, f)
	}
	return out
}

// hopKey groups the probes of one path kind: port, vantage point, via.
func hopKey(p *Probe) string { return p.Port + "|" + string(p.From) + "|" + string(p.Via) }

// describeHop names a kind of hop, e.g. "port http NodePort 30080 from local".
func describeHop(p *Probe) string {
	s := "port " + p.Port + " "
	switch p.Via {
	case ViaNodePort:
		s += fmt.Sprintf("NodePort %d", p.TargetPort)
	case ViaEndpoint:
		s += "endpoints"
	case ViaClusterIP:
		s += "ClusterIP"
	case ViaLoadBalancer:
		s += "LoadBalancer"
	default:
		s += "DNS name"
	}
	return s + " from " + string(p.From)
}

func missing(all, seen []string) []string {
	got := map[string]bool{}
	for _, s := range seen {
		got[s] = true
	}
	var out []string
	for _, a := range all {
		if !got[a] {
			out = append(out, a)
		}
	}
	return out
}

// Missing returns the backends of p that are not in seen.
func Missing(p *Probe, seen []string) []string { return missing(p.Backends, seen) }

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
