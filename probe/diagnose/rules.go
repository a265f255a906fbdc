package diagnose

// rule draws one kind of conclusion about one Service. It reads the Service,
// its probes and their results from c, adds its findings with c.add (which
// marks the probes they cite as explained for the rules after it), and
// returns stop when its findings explain everything about the Service, so
// that no later rule runs for it.
type rule interface {
	apply(c *svcContext) (stop bool)
}

// always marks a rule that runs even after a rule before it stopped: its
// conclusion holds whatever else is wrong with the Service.
type always struct{ rule }

// rules is the order in which diagnosis tries its rules on each Service; the
// order of a Service's findings is this order. Once a rule stops, only the
// rules marked always run.
//
//  1. externalName: an ExternalName Service is not probed (stops).
//  2. protocolNotProbed: a note per port whose protocol is not probed.
//  3. externalIPsNotProbed: a note naming the Service's externalIPs.
//  4. namedPortMismatch: a named targetPort no selected pod declares
//     explains every failure (stops).
//  5. noReadyEndpoints: no ready endpoint explains every failure, unless a
//     path answered all the same (staleForwarding, terminatingFallback)
//     (stops).
//  6. endpointsNotReady: some endpoints not ready, a warning.
//  7. endpointsOnOneNode: two or more ready endpoints, all on one node, a
//     note.
//  8. networkPolicy: paths NetworkPolicy must block that answered; notes.
//  9. dnsFaults: the DNS name fails (dnsFailed) or resolves elsewhere
//     (dnsWrongAnswer) from a vantage point where the addresses it should
//     resolve to answer.
//  10. vantageCutOff: an in-cluster vantage point whose node reaches nothing
//     (dataplaneBroken), before the backend rules blame the pods.
//  11. undeclaredPortRefused: direct connections from inside are refused on
//     a targetPort no container declares; explains those and the port's
//     failed forwarded paths.
//  12. backendFaults: what is wrong with individual backends, from direct
//     probes and the failed connections of forwarded paths
//     (applicationError, backendUnreachableFrom, backendNotListening,
//     backendHung, endpointUnreachable, backendUnreachable); explains those
//     and the forwarded paths that failed because of them.
//  13. undeclaredPortFromOutside: without failing direct probes, every
//     NodePort is refused and a numeric targetPort no container declares.
//  14. healthCheckMismatch: a node's healthCheckNodePort answering 200
//     without a ready local endpoint (stale kube-proxy) or 503 with one.
//  15. nodeFaults: failed connections through one node's NodePort or
//     ClusterIP, placed on the node (dataplaneBroken, blockedFromOperator,
//     nodePortBlocked, nodePathFailed).
//  16. loadBalancerNotDelivering: a LoadBalancer ingress failing from here
//     while every node that should answers on the Service's NodePort.
//  17. exposure (always): a ClusterIP or pod IP answers from outside; no
//     other rule cites these probes, so an exposure is reported whatever
//     else is wrong with the Service.
//  18. hopFailures: whatever failure is left, and partial coverage, one
//     finding per kind of hop; it cites every failed probe no rule before it
//     cited.
//  19. udpSilence (always): UDP paths that got no reply, a note.
//
// The endpoint rules come first because a Service with nothing to reach
// explains every path; the backend rules come before the node rule because a
// pod that does not answer explains the paths that lead to it; the catch-all
// comes last.
var rules = []rule{
	externalName{},
	protocolNotProbed{},
	externalIPsNotProbed{},
	namedPortMismatch{},
	noReadyEndpoints{},
	endpointsNotReady{},
	endpointsOnOneNode{},
	networkPolicy{}, // rule_policy.go: paths policy must block that answered, before the direct and node rules claim them; notes
	dnsFaults{},     // rule_dns.go: a name that fails where its addresses answer, before the vantage and node rules blame the dataplane
	vantageCutOff{}, // rule_vantage.go: a vantage point's node that reaches nothing, before the backend rules blame the pods
	undeclaredPortRefused{},
	backendFaults{},
	undeclaredPortFromOutside{},
	healthCheckMismatch{},
	nodeFaults{},
	loadBalancerNotDelivering{},
	always{exposure{}},
	hopFailures{},
	always{udpSilence{}},
}
