package agentjob

import (
	"context"
	"fmt"

	"github.com/svccheck/svccheck/plugin/cluster"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svccheck/svccheck/internal/exitcode"
)

// createJob creates the agent's Job, trying again on transient errors. A Job
// name comes from generateName, so a create whose response was lost (the API
// server paused, the connection cut) may still have made one: before trying
// again it looks for a Job with this agent's label and adopts it. A create
// that lands after that look makes a second Job of the same agent; the wait
// takes whichever pod runs first, and the run's cleanup deletes both by label.
func (a *Agent) createJob(ctx context.Context) (*batchv1.Job, error) {
	jobs := a.client.BatchV1().Jobs(a.cfg.Namespace)
	var job *batchv1.Job
	uncertain := false
	err := cluster.RetryAPI(ctx, func(ctx context.Context) error {
		if uncertain {
			list, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
			if err != nil {
				return err
			}
			if len(list.Items) > 0 {
				job = &list.Items[0]
				return nil
			}
		}
		a.run.Creating(a.cfg.Deadline)
		j, err := jobs.Create(ctx, a.jobSpec(), metav1.CreateOptions{})
		if err != nil {
			if cluster.Transient(err) {
				uncertain = true
				a.run.Lost()
			}
			return err
		}
		job = j
		return nil
	})
	if err == nil {
		return job, nil
	}
	if ctx.Err() != nil {
		return nil, &exitcode.Error{Code: exitcode.Interrupted, Err: fmt.Errorf("interrupted while creating the agent job")}
	}
	if apierrors.IsForbidden(err) {
		return nil, &exitcode.Error{Code: exitcode.Cluster, Err: fmt.Errorf("forbidden: cannot create jobs.batch in namespace %q: %w", a.cfg.Namespace, err)}
	}
	return nil, &exitcode.Error{Code: exitcode.Agent, Err: fmt.Errorf("create agent job in namespace %q: %w", a.cfg.Namespace, err)}
}
