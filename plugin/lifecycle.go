package plugin

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/report"
)

// lifecycle is what one run leaves in the cluster and how its agents ended:
// the run's ledger (its id labels every object it creates) and the agents
// that stopped before answering every probe.
type lifecycle struct {
	ledger *cluster.Ledger
	// cleanup bounds the removal of the run's objects (cluster.DefaultCleanup
	// when zero).
	cleanup cluster.CleanupPolicy

	mu     sync.Mutex
	failed map[probe.From][]string
}

// beginRun starts the run's ledger when the run may create agents; the
// returned func, deferred by Run, removes whatever the run created, however
// the run ends (success, error, Ctrl-C, SIGTERM, an agent that never
// started), unless --keep-agent.
func (o *Options) beginRun() func() {
	o.life.ledger = cluster.NewLedger(o.agentNamespace())
	klog.V(1).InfoS("svccheck run", "run", o.life.ledger.ID, "agentNamespace", o.life.ledger.Namespace)
	return o.endRun
}

// endRun deletes every object of the run by its label and checks that none
// is left. When it cannot, it says so in one line on stderr, naming the
// command that finishes the job; the exit code stays what the run decided.
func (o *Options) endRun() {
	l := o.life.ledger
	if l == nil || !l.Created() {
		return
	}
	if o.KeepAgent {
		fmt.Fprintf(o.ErrOut, "svccheck: kept the agent(s) of run %s: `kubectl svccheck cleanup --run %s -n %s` removes them; their deadline does by %s\n",
			l.ID, l.ID, l.Namespace, l.Expires().Format(time.RFC3339))
		return
	}
	p := o.life.cleanup
	if p.Budget <= 0 {
		p = cluster.DefaultCleanup()
	}
	if err := l.Cleanup(o.client, p); err != nil {
		fmt.Fprintln(o.ErrOut, err.Error())
	}
}

// retryPolicy is how the run's API calls ride out an unavailable API server:
// cluster.DefaultRetry, for no longer than twice the request timeout (an API
// server that refuses connections with --request-timeout 2s fails the run
// within 4 s; with the default 15 s it gets 30 s).
func (o *Options) retryPolicy() cluster.RetryPolicy {
	p := cluster.DefaultRetry()
	if o.restConfig != nil && o.restConfig.Timeout > 0 {
		p.Budget = min(p.Budget, 2*o.restConfig.Timeout)
	}
	return p
}

// agentFailed records that the agent of vantage point from stopped before
// answering every probe, and why.
func (o *Options) agentFailed(from probe.From, err error) {
	if err == nil {
		return
	}
	o.life.mu.Lock()
	defer o.life.mu.Unlock()
	if o.life.failed == nil {
		o.life.failed = map[probe.From][]string{}
	}
	o.life.failed[from] = append(o.life.failed[from], err.Error())
}

// agentExit turns a run whose report passed but in which an agent stopped
// before answering every probe into exit code 4: the report (printed
// already) marks those probes not run with the reason, and this names the
// agents. A failed or interrupted run keeps its code (1, 130): what did run
// already decided it. An agent that failed only in a re-probe whose probes
// kept an earlier observation changes nothing.
func (o *Options) agentExit(rep *report.Report, err error) error {
	o.life.mu.Lock()
	defer o.life.mu.Unlock()
	if err != nil || len(o.life.failed) == 0 {
		return err
	}
	var parts []string
	for f, whys := range o.life.failed {
		for _, why := range whys {
			if notRunFrom(rep, f, why) {
				parts = append(parts, fmt.Sprintf("%s: %s", f, why))
				break
			}
		}
	}
	if len(parts) == 0 {
		return nil
	}
	sort.Strings(parts)
	return &ExitError{Code: ExitAgent, Err: fmt.Errorf("agent stopped before every probe ran (its probes are reported not run): %s", strings.Join(parts, "; "))}
}

// notRunFrom reports whether the report has a probe from vantage point f not
// run because of why.
func notRunFrom(rep *report.Report, f probe.From, why string) bool {
	for _, s := range rep.Services {
		for _, p := range s.Probes {
			if p.From == f && p.Outcome == probe.NotRun && p.Detail == why {
				return true
			}
		}
	}
	return false
}
