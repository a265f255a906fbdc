package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/diagnose"
	"github.com/svccheck/svccheck/report"
)

// enforcingProber is fakeProber on a cluster that enforces NetworkPolicy
// and whose pod network is routed from outside when routable is set: what
// policy blocks times out.
type enforcingProber struct {
	fakeProber
	routable, clusterIPExposed bool
}

func (f enforcingProber) Probe(ctx context.Context, p *probe.Probe) probe.Result {
	blocked := len(p.Expect.Policies) > 0 && p.Expect.Want == probe.NoReach
	exposed := p.From == probe.FromLocal && (f.routable && p.Via == probe.ViaEndpoint || f.clusterIPExposed && p.Via == probe.ViaClusterIP)
	if p.Skip == "" && blocked {
		return probe.Result{ID: p.ID, Outcome: probe.Timeout, Connections: 1, Failures: 1, Detail: "i/o timeout"}
	}
	if p.Skip == "" && exposed {
		return probe.Result{ID: p.ID, Outcome: probe.OK, Connections: 1, Backend: p.Pod, Attribution: probe.AttrDirect}
	}
	return f.fakeProber.Probe(ctx, p)
}

func withObjects(objs ...runtime.Object) func(*Options) {
	return func(o *Options) {
		for _, obj := range objs {
			if err := o.client.(*fake.Clientset).Tracker().Add(obj); err != nil {
				panic(err)
			}
		}
	}
}

var (
	defaultDeny = &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "default-deny"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	allowFrontend = &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "allow-frontend"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "hostname"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
				{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}}}}}}}}
	frontend = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "frontend"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "frontend"}}}}}
)

func jsonReport(t *testing.T, out string) *report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return &r
}

func codesOf(r *report.Report) map[diagnose.Code][]diagnose.Finding {
	out := map[diagnose.Code][]diagnose.Finding{}
	for _, f := range r.Findings {
		out[f.Code] = append(out[f.Code], f)
	}
	return out
}

// TestDefaultDenyIsExpected: a namespace whose policy admits nothing is
// reported blocked by policy, as expected, not broken.
func TestDefaultDenyIsExpected(t *testing.T) {
	out, errOut, err := runOpts(t, enforcingProber{}, withObjects(defaultDeny), "hostname", "--from", "all", "-o", "json")
	if ExitCode(err) != ExitOK {
		t.Fatalf("exit %d: %v\n%s\n%s", ExitCode(err), err, errOut, out)
	}
	r := jsonReport(t, out)
	blocked := 0
	for _, p := range r.Services[0].Probes {
		if p.From == probe.FromPod && p.Via != probe.ViaNodePort {
			if p.Expect != probe.NoReach || strings.Join(p.Policies, ",") != "default/default-deny" || !p.Pass {
				t.Errorf("%s: expect %s (%s) policies %v pass %v", p.ID, p.Expect, p.ExpectReason, p.Policies, p.Pass)
			}
			blocked++
		}
	}
	if blocked == 0 || len(codesOf(r)[diagnose.NotePolicyBlocked]) != 1 {
		t.Errorf("%d blocked probes, findings %+v", blocked, r.Findings)
	}
	// Where the engine does not enforce it, the same run says so.
	out, _, err = runOpts(t, fakeProber{}, withObjects(defaultDeny), "hostname", "--from", "all", "-o", "json")
	fs := codesOf(jsonReport(t, out))[diagnose.VerdictPolicyNotEnforced]
	if ExitCode(err) != ExitOK || len(fs) != 1 || !strings.Contains(fs[0].Message, "NetworkPolicy default/default-deny is not enforced") {
		t.Errorf("exit %d, policyNotEnforced %+v", ExitCode(err), fs)
	}
}

// TestPoliciesNotReadable: without permission to list NetworkPolicies the
// run says so once and expects as before.
func TestPoliciesNotReadable(t *testing.T) {
	forbid := func(o *Options) {
		o.client.(*fake.Clientset).PrependReactor("list", "networkpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"}, "", errors.New("no"))
		})
		withObjects(defaultDeny)(o)
	}
	out, _, err := runOpts(t, fakeProber{}, forbid, "hostname", "--from", "all", "-o", "json")
	r := jsonReport(t, out)
	notes := codesOf(r)[diagnose.NotePoliciesNotRead]
	if ExitCode(err) != ExitOK || len(notes) != 1 || notes[0].Severity != diagnose.SevInfo ||
		!strings.Contains(notes[0].Message, `cannot list networkpolicies.networking.k8s.io in namespace "default" (forbidden)`) {
		t.Fatalf("exit %d, notes %+v", ExitCode(err), notes)
	}
	for _, p := range r.Services[0].Probes {
		if len(p.Policies) > 0 {
			t.Errorf("%s decided by policies %v it could not read", p.ID, p.Policies)
		}
	}
}

// TestAsClient: the agent pod takes the client's namespace and labels, the
// expectations follow, and the report says how it ran.
func TestAsClient(t *testing.T) {
	agents := &fakeAgents{prober: enforcingProber{}}
	setup := func(o *Options) {
		withObjects(defaultDeny, allowFrontend, frontend)(o)
		o.agents = agents
	}
	out, errOut, err := runOpts(t, enforcingProber{}, setup, "hostname", "--from", "cluster", "--as-client", "default/deploy/frontend", "-o", "json")
	if ExitCode(err) != ExitOK {
		t.Fatalf("exit %d: %v %s", ExitCode(err), err, errOut)
	}
	cfg := agents.started[0]
	if cfg.Namespace != "default" || cfg.PodLabels["app"] != "frontend" || !cfg.NeverReady {
		t.Errorf("agent config %+v", cfg)
	}
	r := jsonReport(t, out)
	for _, p := range r.Services[0].Probes {
		if p.Via == probe.ViaEndpoint && (p.Expect != probe.Reach || !strings.Contains(p.ExpectReason, "admitted by NetworkPolicies default/allow-frontend, default/default-deny")) {
			t.Errorf("%s: %s (%s)", p.ID, p.Expect, p.ExpectReason)
		}
	}
	notes := codesOf(r)[diagnose.NoteAsClient]
	if len(notes) != 1 || !strings.Contains(notes[0].Message, "as default/deployment/frontend with its pod labels app=frontend") {
		t.Errorf("notes %+v", notes)
	}
	// The same run as svccheck's own agent is blocked.
	out, _, _ = runOpts(t, enforcingProber{}, withObjects(defaultDeny, allowFrontend), "hostname", "--from", "cluster", "-o", "json")
	for _, p := range jsonReport(t, out).Services[0].Probes {
		if p.Via == probe.ViaEndpoint && p.Expect != probe.NoReach {
			t.Errorf("as the agent, %s: %s", p.ID, p.Expect)
		}
	}
}

// TestRoutablePods: a cluster that declares its pod network routable
// passes --fail-on warning, and an undeclared exposure still fails.
func TestRoutablePods(t *testing.T) {
	args := []string{"hostname", "--fail-on", "warning", "-o", "json"}
	if out, _, err := runOpts(t, enforcingProber{}, allReady, args...); ExitCode(err) != ExitOK {
		t.Fatalf("nothing routable: exit %d\n%s", ExitCode(err), out)
	}
	if _, _, err := runOpts(t, enforcingProber{routable: true}, allReady, args...); ExitCode(err) != ExitFailed {
		t.Fatalf("undeclared routable pods: exit %d", ExitCode(err))
	}
	out, _, err := runOpts(t, enforcingProber{routable: true}, allReady, append(args, "--expect-routable-pods")...)
	if ExitCode(err) != ExitOK {
		t.Fatalf("declared: exit %d\n%s", ExitCode(err), out)
	}
	r := jsonReport(t, out)
	notes := codesOf(r)[diagnose.NoteException]
	if len(notes) != 1 || !strings.Contains(notes[0].Message, "declared exception routablePods (--expect-routable-pods)") || len(notes[0].Probes) != 1 {
		t.Errorf("notes %+v", notes)
	}
	out, _, err = runOpts(t, enforcingProber{routable: true, clusterIPExposed: true}, allReady, append(args, "--expect-routable-pods")...)
	exposed := codesOf(jsonReport(t, out))[diagnose.VerdictExposed]
	if ExitCode(err) != ExitFailed || len(exposed) != 1 || !strings.HasPrefix(exposed[0].Message, "ClusterIP") {
		t.Errorf("an exposed ClusterIP: exit %d, %+v", ExitCode(err), exposed)
	}
}

// allReady makes the fixture's NotReady, cordoned node Ready and schedulable.
func allReady(o *Options) {
	cs := o.client.(*fake.Clientset)
	n, err := cs.CoreV1().Nodes().Get(context.Background(), "worker2", metav1.GetOptions{})
	if err != nil {
		panic(err)
	}
	n.Spec.Unschedulable = false
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		panic(err)
	}
}

func TestExpectationFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "svccheck.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: svccheck.dev/v1alpha1\nkind: Config\nroutablePods: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, bad + ":3:15: routablePods: got string, want boolean"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "--config: open"},
		{[]string{"--expect-internal", "web"}, `--expect-internal "web": want namespace/name`},
		{[]string{"--as-client", "default/deploy/frontend"}, "--as-client needs the agent pod"},
		{[]string{"--as-client", "default", "--from", "all"}, `invalid --as-client "default": no namespace`},
		{[]string{"--as-client", "default/cronjob/x", "--from", "all"}, "unknown kind cronjob"},
		{[]string{"--as-client", "shop/app=frontend", "--from", "all", "--agent-namespace", "svccheck"}, `--as-client runs the agents in namespace "shop", --agent-namespace says "svccheck"`},
	} {
		_, _, err := runOpts(t, fakeProber{}, nil, tc.args...)
		if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, %v; want %q", tc.args, ExitCode(err), err, tc.want)
		}
	}
}

func TestParseAsClient(t *testing.T) {
	for in, want := range map[string]string{
		"shop/deploy/frontend":       "shop/deployment/frontend",
		"shop/Deployments/frontend":  "shop/deployment/frontend",
		"shop/sts/db":                "shop/statefulset/db",
		"shop/app=frontend,tier=web": "shop/app=frontend,tier=web",
	} {
		c, err := parseAsClient(in)
		if err != nil || c.String() != want {
			t.Errorf("%s: got %v, %v; want %s", in, c, err, want)
		}
	}
	for _, in := range []string{"", "shop", "shop/", "Shop/app=x", "shop/deploy", "shop/deploy/a/b", "shop/app=="} {
		if _, err := parseAsClient(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestConfigCommand(t *testing.T) {
	out, _, err := runOpts(t, fakeProber{}, nil, "config", "schema")
	if err != nil || !strings.Contains(out, `"$id": "https://svccheck.dev/schema/svccheck.dev/v1alpha1/config.json"`) {
		t.Errorf("schema: %v\n%s", err, out)
	}
	out, _, err = runOpts(t, fakeProber{}, nil, "config", "check", "../deploy/svccheck.example.yaml")
	if err != nil || !strings.Contains(out, "valid svccheck.dev/v1alpha1 Config") || !strings.Contains(out, "edge-firewall (../deploy/svccheck.example.yaml:23)") {
		t.Errorf("check: %v\n%s", err, out)
	}
}

// TestDryRunShowsExpectations: the plan lists the exceptions and what
// policy changed, before anything runs.
func TestDryRunShowsExpectations(t *testing.T) {
	out, _, err := runOpts(t, fakeProber{}, withObjects(defaultDeny), "hostname", "--from", "all", "--dry-run", "--expect-internal", "default/hostname")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nEXPECTATIONS\n", "1 NetworkPolicy applies: ", "declared exception internal[0] (--expect-internal): default/hostname must stay internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
}

// TestAsClientNoteNamesSelectingServices: the note says which Services the
// agent's labels made it an endpoint of, never a ready one.
func TestAsClientNoteNamesSelectingServices(t *testing.T) {
	o := &Options{}
	o.asClient = &asClient{Namespace: "default", Kind: "deployment", Name: "web", Labels: map[string]string{"app": "hostname"}}
	inv := probe.Inventory{Services: []probe.Service{
		{Namespace: "default", Name: "hostname", Selector: map[string]string{"app": "hostname"}},
		{Namespace: "default", Name: "peers", Selector: map[string]string{"app": "hostname"}, PublishNotReady: true},
		{Namespace: "other", Name: "hostname", Selector: map[string]string{"app": "hostname"}},
	}}
	fs := diagnose.ExpectationNotes(inv, probe.Plan{}, diagnose.ExpectationFacts{AsClient: o.asClientFacts()})
	want := "so default/hostname, default/peers listed it only as a not-ready endpoint while it ran; default/peers publish not-ready addresses"
	if len(fs) != 1 || !strings.Contains(fs[0].Message, want) {
		t.Errorf("%+v", fs)
	}
}
