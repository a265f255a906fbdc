package agentjob

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestStartAgentWatchesThePod: the agent's pod turns Running a while after the
// Job is created; StartAgent learns it from a watch, not by listing again and
// again.
func TestStartAgentWatchesThePod(t *testing.T) {
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
		time.Sleep(700 * time.Millisecond)
		pod, err := cs.CoreV1().Pods("ns").Get(context.Background(), "svccheck-agent-x1-p", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		pod.Status.Phase, pod.Spec.NodeName = corev1.PodRunning, "n2"
		if _, err := cs.CoreV1().Pods("ns").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	a, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 10 * time.Second, Deadline: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Delete()
	if d := time.Since(start); d > 3*time.Second || a.Node() != "n2" {
		t.Errorf("running after %s on node %q", d, a.Node())
	}
	lists := 0
	for _, act := range cs.Actions() {
		if act.GetVerb() == "list" && act.GetResource().Resource == "pods" {
			lists++
		}
	}
	if lists > 1 {
		t.Errorf("the pod was listed %d times while waiting: want one List, then a watch", lists)
	}
}

var _ runtime.Object = (*corev1.Pod)(nil)
