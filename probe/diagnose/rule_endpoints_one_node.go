package diagnose

import "slices"

// VerdictEndpointsOnOneNode: every ready endpoint of a Service with several
// runs on one node, so losing that node loses the Service (info).
const VerdictEndpointsOnOneNode Code = "endpointsOnOneNode"

// endpointsOnOneNode notes a Service whose ready endpoints, two or more
// pods (or addresses without a pod), all run on the same node: the
// replicas do not protect it from that node failing. It says nothing when a
// ready endpoint's node is unknown. It cites no probe.
type endpointsOnOneNode struct{}

func (endpointsOnOneNode) apply(c *svcContext) bool {
	var ready []string
	node := ""
	for _, ep := range c.svc.Endpoints {
		if !ep.Ready {
			continue
		}
		if ep.NodeName == "" || node != "" && ep.NodeName != node {
			return false
		}
		node = ep.NodeName
		if id := nameOr(ep.PodName, ep.Address); !slices.Contains(ready, id) {
			ready = append(ready, id)
		}
	}
	if len(ready) < 2 {
		return false
	}
	c.add(SevInfo, VerdictEndpointsOnOneNode, node, "", nil, "all %d ready endpoints of %s run on node %s: losing that node loses the Service",
		len(ready), c.svc.Key(), node)
	return false
}
