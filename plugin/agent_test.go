package plugin

import (
	"bytes"
	"context"
	"testing"

	"github.com/svccheck/svccheck/plugin/agentjob"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestCleanupDeletesOnlyAgents(t *testing.T) {
	labels := map[string]string{agentjob.LabelName: "svccheck", agentjob.LabelComponent: "agent", agentjob.LabelRun: "r1"}
	cs := fake.NewClientset(
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "svccheck-agent-a", Namespace: "default", Labels: labels}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "svccheck-agent-a-p", Namespace: "default", Labels: labels}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}}},
	)
	var out bytes.Buffer
	o := newCommand(NewOptions(genericStreams(&out)))
	o.client, o.namespace = cs, "default"
	cmd := newCmd(o)
	cmd.SetArgs([]string{"cleanup"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "deleted 1 svccheck agent(s) in namespace \"default\"\n" {
		t.Errorf("output %q", out.String())
	}
	pods, _ := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 || pods.Items[0].Name != "web" {
		t.Errorf("pods left: %v", pods.Items)
	}
}
