package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
