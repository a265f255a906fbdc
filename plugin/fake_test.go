package plugin

import (
	"context"
	"sync"

	"github.com/svccheck/svccheck/plugin/agentjob"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/plugin/engine"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/agent"
)

// fakeAgents starts in-process agents that run their probes with prober, as
// the in-cluster agent runs them with its sockets.
type fakeAgents struct {
	prober probe.Prober
	// fail, when set, is returned by Start for that vantage point.
	fail map[probe.From]error
	// node is what every agent reports as its node.
	node string

	mu      sync.Mutex
	started []agentjob.AgentConfig
	reqs    []agent.Request
}

func (f *fakeAgents) Start(_ context.Context, from probe.From, cfg agentjob.AgentConfig) (engine.Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[from]; err != nil {
		return nil, err
	}
	f.started = append(f.started, cfg)
	return &fakeAgent{f: f}, nil
}

type fakeAgent struct{ f *fakeAgents }

func (a *fakeAgent) Node() string { return a.f.node }

func (a *fakeAgent) Run(ctx context.Context, probes []probe.Probe, req agent.Request, onResult func(int, probe.Result)) error {
	a.f.mu.Lock()
	a.f.reqs = append(a.f.reqs, req)
	a.f.mu.Unlock()
	probers := map[probe.From]probe.Prober{}
	for _, p := range probes {
		probers[p.From] = a.f.prober
	}
	probe.RunTries(ctx, probes, probers, req.Concurrency, req.Tries, onResult)
	return nil
}

// allowAll makes every SelfSubjectAccessReview on cs allowed.
func allowAll(cs *fake.Clientset) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = true
		return true, r, nil
	})
}
