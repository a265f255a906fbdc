package agentjob

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/internal/exitcode"
)

// TestStartAgentPodDeletedWhileWaiting: someone deletes the agent's pod
// before it runs; the Job makes no other, so the wait ends at once.
func TestStartAgentPodDeletedWhileWaiting(t *testing.T) {
	cs := fake.NewClientset()
	fakeJobController(cs, corev1.PodStatus{Phase: corev1.PodPending})
	watching := make(chan struct{}, 1)
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		select {
		case watching <- struct{}{}:
		default:
		}
		return false, nil, nil
	})
	go func() {
		select {
		case <-watching:
		case <-time.After(5 * time.Second):
			return
		}
		time.Sleep(100 * time.Millisecond)
		_ = cs.CoreV1().Pods("ns").Delete(context.Background(), "svccheck-agent-x1-p", metav1.DeleteOptions{})
	}()
	start := time.Now()
	_, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 10 * time.Second, Deadline: time.Minute})
	if exitcode.Of(err) != exitcode.Agent || !strings.Contains(err.Error(), "deleted before it ran") || time.Since(start) > 3*time.Second {
		t.Errorf("err %v after %s", err, time.Since(start))
	}
}

// TestStartAgentWaitIsBounded: an API server that accepts the watch and
// then says nothing (paused) cannot hold the wait past StartTimeout.
func TestStartAgentWaitIsBounded(t *testing.T) {
	cs := fake.NewClientset()
	fakeJobController(cs, corev1.PodStatus{Phase: corev1.PodPending})
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, watch.NewFake(), nil // never sends, never closes
	})
	start := time.Now()
	_, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 500 * time.Millisecond, Deadline: time.Minute})
	if exitcode.Of(err) != exitcode.Agent || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %s", err, time.Since(start))
	}
	jobs, _ := cs.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 0 {
		t.Errorf("%d jobs left", len(jobs.Items))
	}
}

// TestStartAgentPodRefused: the Job controller cannot create the agent's pod
// (a ResourceQuota): the wait ends at once with the controller's reason; an
// API server that failed one create is waited out.
func TestStartAgentPodRefused(t *testing.T) {
	defer func(d time.Duration) { createCheckEvery = d }(createCheckEvery)
	createCheckEvery = 20 * time.Millisecond
	for _, tc := range []struct {
		name, event string
		fast        bool
	}{
		{"quota", `Error creating: pods "svccheck-agent-x1-abcde" is forbidden: exceeded quota: nopods, requested: pods=1, used: pods=0, limited: pods=0`, true},
		{"API server briefly away", `Error creating: Post "https://10.0.0.1:6443/api/v1/namespaces/ns/pods": dial tcp 10.0.0.1:6443: connect: connection refused`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
				job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
				job.Name = job.GenerateName + "x1"
				ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: job.Name + ".1", Namespace: job.Namespace},
					InvolvedObject: corev1.ObjectReference{Kind: "Job", Name: job.Name, Namespace: job.Namespace}, Reason: "FailedCreate", Type: corev1.EventTypeWarning, Message: tc.event}
				if err := cs.Tracker().Add(ev); err != nil {
					return true, nil, err
				}
				return true, job, cs.Tracker().Add(job)
			})
			start := time.Now()
			_, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: time.Second, Deadline: time.Minute})
			took := time.Since(start)
			if exitcode.Of(err) != exitcode.Agent {
				t.Fatalf("err %v, want exit %d", err, exitcode.Agent)
			}
			if refused := strings.Contains(err.Error(), "cannot create its pod: "+tc.event); refused != tc.fast || tc.fast && took > 500*time.Millisecond || !tc.fast && took < time.Second {
				t.Errorf("after %s: %v", took, err)
			}
		})
	}
}
