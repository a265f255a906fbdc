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
		out = append(out, staticFindings(svc, inv.Pods)...)
		out = append(out, pathFindings(svc, plan, results, byKey[svc.Key()])...)
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

func pathFindings(svc *Service, plan Plan, results []Result, idx []int) []Finding {
	type group struct {
		probes []string
		parts  []string
		code   string
	}
	groups := map[string]*group{}
	var order []string
	add := func(key, code, part, id string) {
		g, ok := groups[key]
		if !ok {
			g = &group{code: code}
			groups[key] = g
			order = append(order, key)
		}
		g.probes = append(g.probes, id)
		g.parts = append(g.parts, part)
	}
	for _, i := range idx {
		p, r := &plan.Probes[i], &results[i]
		if r.Outcome == NotRun {
			continue
		}
		hop := describeHop(p)
		switch {
		case !r.Pass && p.Expect.Want == NoReach:
			add("exposed/"+hop, "exposed", fmt.Sprintf("%s answered from %s but must not (%s)", p.Address(), p.From, p.Expect.Reason), p.ID)
		case !r.Pass:
			what := string(r.Outcome)
			if r.Outcome == OK {
				what = "failed"
			}
			if r.Failures > 0 && r.Failures < r.Attempts {
				what = fmt.Sprintf("%d of %d connections %s", r.Failures, r.Attempts, r.Outcome)
			}
			add("fail/"+hop, "pathFailed", fmt.Sprintf("%s from %s: %s", p.Address(), p.From, what), p.ID)
		case p.Expect.Want == Reach && len(p.Backends) > 1 && len(r.Seen) > 0 && len(r.Seen) < len(p.Backends):
			add("cov/"+hop, "partialCoverage", fmt.Sprintf("%s from %s saw %d of %d backends in %d connections, never %s",
				p.Address(), p.From, len(r.Seen), len(p.Backends), r.Attempts, strings.Join(missing(p.Backends, r.Seen), ", ")), p.ID)
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		sev := SevError
		if g.code == "partialCoverage" {
			sev = SevWarning
		}
		hop := k[strings.IndexByte(k, '/')+1:]
		f := finding(svc, sev, g.code, "%s: %s", hop, strings.Join(g.parts, "; "))
		f.Probes = g.probes
		out = append(out, f)
	}
	return out
}

// describeHop names the hop a probe crosses, e.g. "port http NodePort 30080 on node b".
func describeHop(p *Probe) string {
	s := "port " + p.Port + " "
	switch p.Via {
	case ViaNodePort:
		return s + fmt.Sprintf("NodePort %d on node %s", p.TargetPort, p.Node)
	case ViaEndpoint:
		return s + "endpoint " + nameOr(p.Pod, p.Host)
	case ViaClusterIP:
		return s + "ClusterIP " + p.Host
	case ViaLoadBalancer:
		return s + "LoadBalancer " + p.Host
	default:
		return s + "DNS " + p.Host
	}
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
