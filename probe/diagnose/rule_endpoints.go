package diagnose

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/svccheck/svccheck/internal/strdist"
	"github.com/svccheck/svccheck/probe"
)

// namedPortMismatch claims that a named targetPort is a port name of none of
// the pods the selector matches: the EndpointSlices then list those pods
// without the port, and nothing can answer on it. It cites every failed probe
// of the Service but the exposure rule's, and stops.
type namedPortMismatch struct{}

func (namedPortMismatch) apply(c *svcContext) bool {
	if len(c.selected) == 0 {
		return false
	}
	missing := c.namedPortMissing()
	if missing == "" {
		return false
	}
	c.add(SevError, VerdictPortMismatch, "", "", c.failed(notExposure), "no endpoints for the port: %s", missing)
	return true
}

// noReadyEndpoints claims that the Service has no ready endpoint, and says
// why: no selector (noEndpoints), a selector that matches no pod, with the
// closest pods and how their labels differ (noEndpoints), or matching pods
// none of which is ready, with the containers and the last probe message
// (endpointNotReady, naming the first pod). When a path that must reach
// answered all the same: through pods that are terminating and still
// serving, kube-proxy's fallback when no endpoint is ready
// (terminatingFallback); else the forwarding has not caught up with the
// endpoints (staleForwarding, citing those paths too). It cites every failed
// probe of the Service but the exposure rule's, and stops.
type noReadyEndpoints struct{}

func (noReadyEndpoints) apply(c *svcContext) bool {
	if ready, _ := endpointStates(c.svc); ready > 0 {
		return false
	}
	svc, all := c.svc, c.failed(notExposure)
	var why string
	code, pod := VerdictNoEndpoints, ""
	switch {
	case len(svc.Selector) == 0:
		why = "the Service has no selector and nobody manages its EndpointSlices"
	case len(c.selected) == 0:
		why = fmt.Sprintf("selector %s matches no pod in namespace %s%s", selectorString(svc.Selector), svc.Namespace, c.closest())
	default:
		var names []string
		for _, p := range c.selected {
			names = append(names, p.Name)
		}
		code, pod = VerdictEndpointNotReady, firstOr(names)
		why = fmt.Sprintf("selector %s matches %d pod(s), none ready: %s", selectorString(svc.Selector), len(c.selected), c.readiness(names))
	}
	if answered := c.answered(func(p *probe.Probe) bool {
		return p.Expect.Want == probe.Reach && p.Via.Kind().Route != probe.RouteProxy
	}); len(answered) > 0 {
		if serving := c.servingTerminating(); len(serving) > 0 && c.seenOnly(answered, serving) {
			c.add(SevError, VerdictTerminatingFallback, "", "", append(answered, all...),
				"no ready endpoints (%s); %s answered through %s, terminating but still serving: kube-proxy falls back to serving terminating endpoints when none is ready, and nothing will answer once they exit",
				why, c.hops(answered), strings.Join(serving, ", "))
			return true
		}
		c.add(SevError, VerdictStaleForwarding, "", "", append(answered, all...),
			"no ready endpoints (%s), yet %s answered: forwarding has not caught up with the endpoints (stale proxy rules), or they changed during the run",
			why, c.hops(answered))
		return true
	}
	c.add(SevError, code, "", pod, all, "no ready endpoints: %s", why)
	return true
}

// servingTerminating names the Service's endpoints that are terminating and
// still serving.
func (c *svcContext) servingTerminating() []string {
	var out []string
	for _, ep := range c.svc.Endpoints {
		if n := nameOr(ep.PodName, ep.Address); ep.Terminating && ep.Serving && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// seenOnly: every backend the probes idx saw is one of names (a probe that
// saw none proves nothing against it).
func (c *svcContext) seenOnly(idx []int, names []string) bool {
	for _, i := range idx {
		for _, b := range c.results[i].Seen {
			if !slices.Contains(names, b) {
				return false
			}
		}
	}
	return true
}

// endpointsNotReady warns that some endpoints of a Service with ready ones
// are not ready (terminating ones do not count), with why. It cites no probe:
// direct probes of endpoints that are not ready expect nothing.
type endpointsNotReady struct{}

func (endpointsNotReady) apply(c *svcContext) bool {
	ready, notReady := endpointStates(c.svc)
	if ready > 0 && len(notReady) > 0 {
		c.add(SevWarning, VerdictEndpointNotReady, "", "", nil, "%d of %d endpoints not ready: %s",
			len(notReady), len(notReady)+ready, c.readiness(notReady))
	}
	return false
}

// endpointStates counts the ready endpoints and names the not-ready ones
// that are not terminating.
func endpointStates(svc *probe.Service) (ready int, notReady []string) {
	for _, ep := range svc.Endpoints {
		switch {
		case ep.Ready:
			ready++
		case !ep.Terminating:
			notReady = append(notReady, nameOr(ep.PodName, ep.Address))
		}
	}
	return ready, notReady
}

// readiness explains why pods are not ready: containers and the last probe message.
func (c *svcContext) readiness(names []string) string {
	var parts []string
	for _, n := range names {
		s := n
		if slices.ContainsFunc(c.svc.Endpoints, func(ep probe.Endpoint) bool { return ep.PodName == n && ep.Terminating }) {
			s += " (terminating)"
		} else {
			for _, p := range c.pods {
				if p.Namespace == c.svc.Namespace && p.Name == n {
					s += notReadyReason(p)
				}
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// notReadyReason is " (container ... not ready: message)", " (phase)" or "".
func notReadyReason(p probe.Pod) string {
	if len(p.NotReady) > 0 {
		s := " (container " + strings.Join(p.NotReady, ", ") + " not ready"
		if p.ProbeMessage != "" {
			s += ": " + p.ProbeMessage
		} else if p.ReadyMessage != "" {
			s += ": " + p.ReadyMessage
		}
		return s + ")"
	}
	if p.Phase != "" && p.Phase != "Running" {
		return " (" + p.Phase + ")"
	}
	return ""
}

// closest names the pods whose labels come nearest the selector (a typo in
// a value counts as near), and how they differ.
func (c *svcContext) closest() string {
	var best []string
	bestScore := 0.5 // below this nothing is close
	for _, p := range c.pods {
		if p.Namespace != c.svc.Namespace {
			continue
		}
		score, desc := labelDistance(c.svc.Selector, p)
		switch {
		case score > bestScore+1e-9:
			best, bestScore = []string{desc}, score
		case score > bestScore-1e-9 && len(best) > 0 && len(best) < 3:
			best = append(best, desc)
		}
	}
	if len(best) == 0 {
		return ""
	}
	return "; closest: " + strings.Join(best, ", ")
}

// labelDistance scores how near p's labels come to sel (2 per equal label,
// up to 1 for a near value) and describes p and the differences.
func labelDistance(sel map[string]string, p probe.Pod) (float64, string) {
	score, diffs := 0.0, []string{}
	for k, v := range sel {
		switch got, ok := p.Labels[k]; {
		case ok && got == v:
			score += 2
		case ok:
			score += 1 - float64(strdist.Levenshtein(got, v))/float64(max(len(got), len(v)))
			diffs = append(diffs, fmt.Sprintf("%s=%s, not %s", k, got, v))
		default:
			diffs = append(diffs, "no label "+k)
		}
	}
	sort.Strings(diffs)
	return score, p.Name + " (" + strings.Join(diffs, "; ") + ")"
}

// namedPortMissing says which named targetPort no selected pod declares.
func (c *svcContext) namedPortMissing() string {
	for _, sp := range c.svc.Ports {
		if _, err := strconv.Atoi(sp.TargetPort); err == nil || sp.TargetPort == "" {
			continue
		}
		found := false
		for _, p := range c.selected {
			for _, cp := range p.Ports {
				found = found || cp.Name == sp.TargetPort
			}
		}
		if !found {
			return fmt.Sprintf("targetPort %q of port %s is not a port name of any selected pod (they declare %s)",
				sp.TargetPort, sp.Label(), declared(c.selected))
		}
	}
	return ""
}

// undeclared reports whether a numeric targetPort is declared by no selected
// pod; false when the selector matches no pod.
func (c *svcContext) undeclared(port int32) bool {
	if len(c.selected) == 0 {
		return false
	}
	for _, p := range c.selected {
		for _, cp := range p.Ports {
			if cp.Port == port {
				return false
			}
		}
	}
	return true
}

// declared lists the container ports pods declare ("name/number"), or "no ports".
func declared(pods []probe.Pod) string {
	var ps []string
	for _, p := range pods {
		for _, cp := range p.Ports {
			s := strconv.Itoa(int(cp.Port))
			if cp.Name != "" {
				s = cp.Name + "/" + s
			}
			if !slices.Contains(ps, s) {
				ps = append(ps, s)
			}
		}
	}
	if len(ps) == 0 {
		return "no ports"
	}
	return strings.Join(ps, ", ")
}
