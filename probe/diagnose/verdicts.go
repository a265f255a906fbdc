package diagnose

import "slices"

// Kind tells a verdict, a conclusion about a Service or the run, from a note,
// which informs and never makes a Service's verdict by itself.
type Kind string

// Kinds of codes. Notes are documented together in the README's verdict
// table, in its "notes" row.
const (
	KindVerdict Kind = "verdict"
	KindNote    Kind = "note"
)

// Claim is what findings of a code assert about the cluster beyond "these
// probes failed": each is a statement a probe of the same report can
// contradict (see Contradictions). Claims combine as bits.
type Claim uint16

// Claims.
const (
	// ClaimPodSilent: the finding's pod answers on none of the ports of the
	// probes it cites, from anywhere. A finding that names no pod claims
	// nothing of it.
	ClaimPodSilent Claim = 1 << iota
	// ClaimPodSilentOnTarget: as ClaimPodSilent, narrowed for direct probes
	// to the target ports of the direct probes the finding cites.
	ClaimPodSilentOnTarget
	// ClaimPodUnreachableSomewhere: the finding's pod fails from or through
	// the places of the failed probes it cites, and answers somewhere else.
	ClaimPodUnreachableSomewhere
	// ClaimServerError: a probe the finding cites saw an HTTP 5xx.
	ClaimServerError
	// ClaimNodeForwards: every probe the finding cites goes through the
	// finding's node.
	ClaimNodeForwards
	// ClaimNodeSends: with ClaimNodeForwards, probes sent from the node's
	// vantage points count as going through it (its own network fails).
	ClaimNodeSends
	// ClaimNodePortFailsOutside: the node's NodePort fails from outside.
	ClaimNodePortFailsOutside
	// ClaimNothingAnswers: at error severity, no path to the Service
	// answered.
	ClaimNothingAnswers
	// ClaimExposed: the probes cited answered from outside the cluster.
	ClaimExposed
	// ClaimSeveralBackends: a probe cited reached several backends.
	ClaimSeveralBackends
)

// CodeInfo is everything svccheck states about one Code: what the JSON
// report, JUnit, the contradiction check, the recent-change hint and the
// README's verdict table rely on. Lookup and Codes give the registered
// ones.
type CodeInfo struct {
	Code Code
	Kind Kind
	// Severities are those a finding of the code may have, the usual one
	// first; none for VerdictHealthy, which is never a finding.
	Severities []Severity
	Claims     Claim
	// CitesAnswers: its evidence is paths that answered (there being no
	// ready endpoint to answer), so an error may cite no failed probe.
	CitesAnswers bool
	// CatchingUp: a proxy that has not yet programmed a recent change to
	// the Service or its endpoints produces this verdict too (paths
	// failing through a node, or answering from endpoints that are gone).
	CatchingUp bool
	// Summary says in one line when the code is found.
	Summary string
}

// Has reports whether findings of the code make claim c.
func (ci CodeInfo) Has(c Claim) bool { return ci.Claims&c != 0 }

var (
	errorOnly   = []Severity{SevError}
	warningOnly = []Severity{SevWarning}
	infoOnly    = []Severity{SevInfo}
)

// registry lists every Code, verdicts in the order of the README's table,
// then notes.
var registry = []CodeInfo{
	{Code: VerdictHealthy, Kind: KindVerdict, Summary: "no finding but notes"},
	{Code: VerdictNoEndpoints, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimNothingAnswers,
		Summary: "no ready endpoint and nothing answered"},
	{Code: VerdictStaleForwarding, Kind: KindVerdict, Severities: errorOnly, CitesAnswers: true, CatchingUp: true,
		Summary: "no ready endpoint, yet a path answered: forwarding has not caught up"},
	{Code: VerdictTerminatingFallback, Kind: KindVerdict, Severities: errorOnly, CitesAnswers: true,
		Summary: "no ready endpoint; paths answer only through terminating pods still serving"},
	{Code: VerdictPortMismatch, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodSilentOnTarget,
		Summary: "the targetPort is declared or listened on by no selected pod"},
	{Code: VerdictEndpointNotReady, Kind: KindVerdict, Severities: []Severity{SevError, SevWarning}, Claims: ClaimNothingAnswers,
		Summary: "endpoints not ready (error when none is)"},
	{Code: VerdictApplicationError, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimServerError,
		Summary: "a backend answers HTTP 5xx"},
	{Code: VerdictBackendUnreachableFrom, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodUnreachableSomewhere,
		Summary: "a backend answers from some places and not from or through others"},
	{Code: VerdictBackendNotListening, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodSilent,
		Summary: "a backend answers from nowhere, every failure a refusal"},
	{Code: VerdictBackendHung, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodSilent,
		Summary: "a backend accepts connections and never answers"},
	{Code: VerdictEndpointUnreachable, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodSilent,
		Summary: "nothing answers at an endpoint address from anywhere"},
	{Code: VerdictBackendUnreachable, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimPodSilent,
		Summary: "a backend answers from nowhere, failing differently by vantage point"},
	{Code: VerdictDataplaneBroken, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimNodeForwards | ClaimNodeSends, CatchingUp: true,
		Summary: "a node's own paths fail: kube-proxy or the CNI on that node"},
	{Code: VerdictBlockedFromOperator, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimNodeForwards | ClaimNodePortFailsOutside,
		Summary: "a node's NodePort answers from inside the cluster but not from outside"},
	{Code: VerdictNodePortBlocked, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimNodeForwards,
		Summary: "a node's NodePort fails from elsewhere while the node forwards"},
	{Code: VerdictNodePathFailed, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimNodeForwards | ClaimNodePortFailsOutside, CatchingUp: true,
		Summary: "a node's NodePort fails, forwarder or firewall undetermined"},
	{Code: VerdictHealthCheckMismatch, Kind: KindVerdict, Severities: errorOnly,
		Summary: "a node's healthCheckNodePort disagrees with its local endpoints"},
	{Code: VerdictLoadBalancerNotDelivering, Kind: KindVerdict, Severities: errorOnly,
		Summary: "a LoadBalancer ingress fails while the nodes behind it answer"},
	{Code: VerdictNodeUnreachable, Kind: KindVerdict, Severities: errorOnly,
		Summary: "a node address answers on no NodePort from here; its probes are not run"},
	{Code: VerdictPolicyNotEnforced, Kind: KindVerdict, Severities: warningOnly,
		Summary: "a path NetworkPolicy must block answered"},
	{Code: VerdictExposed, Kind: KindVerdict, Severities: warningOnly, Claims: ClaimExposed,
		Summary: "a ClusterIP or pod IP answers from outside"},
	{Code: VerdictDNSFailed, Kind: KindVerdict, Severities: errorOnly,
		Summary: "the DNS name does not resolve where the Service's addresses answer"},
	{Code: VerdictDNSWrongAnswer, Kind: KindVerdict, Severities: errorOnly,
		Summary: "the DNS name resolves to an address that is not the Service's"},
	{Code: VerdictNotSticky, Kind: KindVerdict, Severities: errorOnly, Claims: ClaimSeveralBackends,
		Summary: "sessionAffinity ClientIP and one client reached several backends"},
	{Code: VerdictPartialCoverage, Kind: KindVerdict, Severities: warningOnly,
		Summary: "a passing path never reached some backends"},
	{Code: VerdictPathFailed, Kind: KindVerdict, Severities: errorOnly, CatchingUp: true,
		Summary: "a failure no other verdict explains"},
	{Code: VerdictRunDeadline, Kind: KindVerdict, Severities: errorOnly,
		Summary: "--max-time reached before every probe ran"},
	{Code: VerdictEndpointsOnOneNode, Kind: KindVerdict, Severities: infoOnly,
		Summary: "every ready endpoint of a Service with several runs on one node"},

	{Code: NoteNodeNotReady, Kind: KindNote, Severities: warningOnly, Summary: "a node is NotReady"},
	{Code: NoteNodeUnschedulable, Kind: KindNote, Severities: infoOnly, Summary: "a node is cordoned"},
	{Code: NoteExternalName, Kind: KindNote, Severities: infoOnly, Summary: "an ExternalName Service, not probed"},
	{Code: NoteProtocolNotProbed, Kind: KindNote, Severities: infoOnly, Summary: "a port whose protocol the probers do not speak"},
	{Code: NoteExternalIPsNotProbed, Kind: KindNote, Severities: infoOnly, Summary: "spec.externalIPs, not probed"},
	{Code: NoteUDPSilent, Kind: KindNote, Severities: infoOnly, Summary: "UDP paths with no reply, which proves nothing"},
	{Code: NotePolicyBlocked, Kind: KindNote, Severities: infoOnly, Summary: "paths NetworkPolicy blocks, as it should"},
	{Code: NotePolicyUndecided, Kind: KindNote, Severities: infoOnly, Summary: "paths NetworkPolicy leaves undecided before the run"},
	{Code: NotePoliciesNotRead, Kind: KindNote, Severities: infoOnly, Summary: "NetworkPolicies or namespace labels not read"},
	{Code: NoteException, Kind: KindNote, Severities: infoOnly, Summary: "a declared exception and the probes it applied to"},
	{Code: NoteAsClient, Kind: KindNote, Severities: infoOnly, Summary: "the agent pod probed as a client"},
	{Code: NoteLocalIngress, Kind: KindNote, Severities: infoOnly, Summary: "an externalTrafficPolicy=Local ingress reaching some nodes' pods only"},
}

var byCode = func() map[Code]CodeInfo {
	m := make(map[Code]CodeInfo, len(registry))
	for _, ci := range registry {
		m[ci.Code] = ci
	}
	return m
}()

// Lookup returns what is registered about code; for a code not registered,
// a CodeInfo with only Code set.
func Lookup(code Code) CodeInfo {
	if ci, ok := byCode[code]; ok {
		return ci
	}
	return CodeInfo{Code: code}
}

// Codes returns every registered code, verdicts first, as a copy the caller
// may change.
func Codes() []CodeInfo { return slices.Clone(registry) }
