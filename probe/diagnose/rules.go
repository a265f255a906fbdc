package diagnose

// rule draws one kind of conclusion about one Service. It reads the Service,
// its probes and their results from c, adds its findings with c.add (which
// marks the probes they cite as explained for the rules after it), and
// returns stop when its findings explain everything about the Service, so
// that no later rule runs for it.
type rule interface {
	apply(c *svcContext) (stop bool)
}

// rules is the order in which diagnosis tries its rules on each Service; the
// order of a Service's findings is this order.
//
//  1. externalName: an ExternalName Service is not probed (stops).
//  2. protocolNotProbed: a note per port that is not TCP.
//  3. namedPortMismatch: a named targetPort no selected pod declares
//     explains every failure (stops).
//  4. noReadyEndpoints: no ready endpoint explains every failure (stops).
//  5. endpointsNotReady: some endpoints not ready, a warning.
//  6. undeclaredPortRefused: direct connections from inside fail on a
//     targetPort no container declares; explains every failure.
//  7. backendNotListening: direct connections from inside fail on a declared
//     port; explains those and every VIP failure.
//  8. undeclaredPortFromOutside: without failing direct probes, every NodePort
//     fails and a numeric targetPort no container declares; explains every
//     failure.
//  9. nodeFaults: failures through one node's NodePort or ClusterIP, placed on
//     the node (dataplaneBroken, blockedFromOperator, nodePathFailed).
//  10. exposure: a ClusterIP or pod IP answers from outside.
//  11. hopFailures: whatever failure is left, and partial coverage, one
//     finding per kind of hop; it cites every failed probe no rule before it
//     cited.
//
// The endpoint rules come first because a Service with nothing to reach
// explains every path; the direct rules come before the node rule because a
// pod that does not answer explains the VIP paths through it; the catch-all
// comes last.
var rules = []rule{
	externalName{},
	protocolNotProbed{},
	namedPortMismatch{},
	noReadyEndpoints{},
	endpointsNotReady{},
	networkPolicy{}, // rule_policy.go: paths policy must block that answered, before the direct and node rules claim them; notes
	undeclaredPortRefused{},
	backendNotListening{},
	undeclaredPortFromOutside{},
	nodeFaults{},
	exposure{},
	hopFailures{},
}
