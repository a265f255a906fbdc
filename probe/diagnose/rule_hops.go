package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/svccheck/svccheck/probe"
)

// hopFailures explains every failed probe no earlier rule cited, and reports
// partial coverage, with one finding per code and kind of hop (Service port,
// vantage point, path) naming each member, in the order of the hop's first
// probe in the plan: notSticky when a sessionAffinity=ClientIP path reached
// several backends (one finding per Service port, every such path named); pathFailed for any other failure, saying when the
// NodePort or health check of every node failed ("the Service, not one
// node"); partialCoverage, a
// warning, when a path that passed never reached some backends. A finding is
// on a node when all its members are. It cites the probes it groups.
type hopFailures struct{}

// hopGroup is one finding of hopFailures in the making.
type hopGroup struct {
	code    Code
	sev     Severity
	hop     string // the hop's key: port, vantage point, path
	desc    string // describeHop
	node    string // the members' node when they share one
	members []string
	idx     []int
}

func (hopFailures) apply(c *svcContext) bool {
	groups := map[string]*hopGroup{}
	var order []*hopGroup
	for _, i := range c.idx {
		p, r := c.probe(i)
		if r.Outcome == probe.NotRun || c.cited[i] {
			continue
		}
		code, sev, member := classifyHop(p, r)
		if code == "" {
			continue
		}
		hop, desc := hopKey(p), ""
		if code == VerdictNotSticky {
			// One problem, the Service port's affinity, on every path
			// and vantage point that shows it.
			hop, desc = p.Port+"|sticky", "port "+p.Port+" does not keep each client on one backend (sessionAffinity=ClientIP)"
			member = c.describePath(p) + ": " + member
		} else {
			desc = c.describeHop(p)
		}
		g, ok := groups[string(code)+"|"+hop]
		if !ok {
			g = &hopGroup{code: code, sev: sev, hop: hop, desc: desc, node: p.Node}
			groups[string(code)+"|"+hop] = g
			order = append(order, g)
		}
		if g.node != p.Node {
			g.node = ""
		}
		g.members = append(g.members, member)
		g.idx = append(g.idx, i)
	}
	total := map[string]int{} // probes that ran, per hop
	for _, i := range c.ran(anyProbe) {
		total[hopKey(&c.plan.Probes[i])]++
	}
	for _, g := range order {
		l := &List{Lead: g.desc, Members: g.members}
		if n := total[g.hop]; g.code == VerdictPathFailed && n > 1 && len(g.idx) == n && c.acrossNodes(g.idx) {
			l.Tail = fmt.Sprintf(" (all %d fail: the Service, not one node)", n)
		}
		c.addList(g.sev, g.code, g.node, g.idx, l)
	}
	return false
}

// acrossNodes reports whether the probes idx are one per node: NodePorts or
// health checks on at least two nodes.
func (c *svcContext) acrossNodes(idx []int) bool {
	var nodes []string
	for _, i := range idx {
		p := &c.plan.Probes[i]
		if p.Via.Kind().Through != probe.ThroughTarget || p.Node == "" {
			return false
		}
		if !slices.Contains(nodes, p.Node) {
			nodes = append(nodes, p.Node)
		}
	}
	return len(nodes) > 1
}

// hopKey identifies p's kind of hop: Service port, vantage point, path.
func hopKey(p *probe.Probe) string { return p.Port + "|" + string(p.From) + "|" + string(p.Via) }

// classifyHop says which hopFailures code p's result falls under, if any,
// and describes it as a member of its hop.
func classifyHop(p *probe.Probe, r *probe.Result) (Code, Severity, string) {
	where := p.Address()
	if p.Via.Kind().Through == probe.ThroughTarget {
		where = p.Node + " (" + p.Address() + ")"
	}
	switch {
	case !r.Pass && p.Expect.Sticky && r.Outcome == probe.OK && len(r.Seen) > 1:
		return VerdictNotSticky, SevError, fmt.Sprintf("%s reached %s in %d connections", where, strings.Join(r.Seen, ", "), r.Connections)
	case !r.Pass:
		return VerdictPathFailed, SevError, where + " " + failure(p, r)
	case p.Expect.Want == probe.Reach && !p.Expect.Sticky && len(p.Backends) > 1 && len(r.Seen) > 0 && len(missing(p.Backends, r.Seen)) > 0:
		return VerdictPartialCoverage, SevWarning, fmt.Sprintf("%s saw %d of %d backends in %d connections, never %s",
			where, len(r.Seen), len(p.Backends), r.Connections, strings.Join(missing(p.Backends, r.Seen), ", "))
	}
	return "", "", ""
}

// failure says how a failed probe failed: its outcome, how many of its
// connections failed, an answer where none was wanted, or a wrong status.
func failure(p *probe.Probe, r *probe.Result) string {
	switch {
	case r.Failures > 0 && r.Failures < r.Connections:
		return fmt.Sprintf("%d of %d connections %s", r.Failures, r.Connections, r.Outcome)
	case r.Outcome == probe.OK && p.Expect.Want == probe.NoReach:
		return "answered but must not (" + p.Expect.Reason + ")"
	case r.Outcome == probe.OK && p.Expect.Status != 0:
		return fmt.Sprintf("HTTP %d, want %d", r.HTTPStatus, p.Expect.Status)
	}
	return string(r.Outcome)
}

// describeHop names a kind of hop, e.g. "port http NodePort 30080 from
// local", and the node of an agent pod: "... from pod (on worker1)".
func (c *svcContext) describeHop(p *probe.Probe) string {
	return "port " + p.Port + " " + c.describePath(p)
}

// describePath is describeHop without the port: "NodePort 30080 from pod
// (on worker1)".
func (c *svcContext) describePath(p *probe.Probe) string {
	return pathKind(p) + " from " + c.fromText(p)
}

// fromText names p's vantage point, with the node of an agent pod: "local",
// "node/worker1", "pod (on worker1)".
func (c *svcContext) fromText(p *probe.Probe) string {
	if n := c.plan.NodeOf(p.From); p.From == probe.FromPod && n != "" {
		return string(p.From) + " (on " + n + ")"
	}
	return string(p.From)
}

// describeHop names a kind of hop, e.g. "port http NodePort 30080 from local".
func describeHop(p *probe.Probe) string {
	return "port " + p.Port + " " + pathKind(p) + " from " + string(p.From)
}

// pathKind names a probe's kind of path: "NodePort 30080", "ClusterIP".
func pathKind(p *probe.Probe) string { return p.Via.Kind().Name(p) }
