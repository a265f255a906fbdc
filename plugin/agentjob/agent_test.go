package agentjob

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/internal/exitcode"
)

func TestJobSpecIsRestrictedAndSelfCleaning(t *testing.T) {
	a := &Agent{cfg: AgentConfig{Namespace: "ns", Image: "img:1", ImagePullPolicy: corev1.PullNever, Deadline: 90 * time.Second, Node: "n1"}, run: &Ledger{ID: "abc"}, id: "a1"}
	j := a.jobSpec()
	if j.GenerateName != "svccheck-agent-" || j.Labels[LabelRun] != "abc" || j.Labels[LabelAgent] != "a1" || j.Labels[LabelComponent] != "agent" {
		t.Errorf("meta %+v", j.ObjectMeta)
	}
	if *j.Spec.TTLSecondsAfterFinished != 0 || *j.Spec.ActiveDeadlineSeconds != 90 || *j.Spec.BackoffLimit != 0 {
		t.Errorf("job spec ttl/deadline/backoff wrong")
	}
	ps := j.Spec.Template.Spec
	c := ps.Containers[0]
	switch {
	case *ps.AutomountServiceAccountToken, !*ps.SecurityContext.RunAsNonRoot, ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault,
		*c.SecurityContext.AllowPrivilegeEscalation, !*c.SecurityContext.ReadOnlyRootFilesystem, c.SecurityContext.Capabilities.Drop[0] != "ALL":
		t.Errorf("pod is not Pod Security restricted: %+v %+v", ps.SecurityContext, c.SecurityContext)
	}
	if *ps.ActiveDeadlineSeconds != 90 || ps.NodeName != "n1" || c.Image != "img:1" || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("pod spec %+v", ps)
	}
	if strings.Join(c.Args, " ") != "agent wait" || j.Spec.Template.Labels[LabelRun] != "abc" || j.Spec.Template.Labels[LabelAgent] != "a1" {
		t.Errorf("args %v labels %v", c.Args, j.Spec.Template.Labels)
	}
}

func TestPodProblem(t *testing.T) {
	waiting := func(reason, msg string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}
	}
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"creating", waiting("ContainerCreating", ""), ""},
		{"pending", corev1.PodStatus{Phase: corev1.PodPending}, ""},
		{"never pull", waiting("ErrImageNeverPull", `Container image "x" is not present with pull policy of Never`), "ErrImageNeverPull: Container image"},
		{"backoff", waiting("ImagePullBackOff", "Back-off pulling image"), "ImagePullBackOff: Back-off"},
		{"crash", waiting("CrashLoopBackOff", "back-off 10s"), "CrashLoopBackOff"},
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}, "unschedulable: 0/3 nodes are available"},
		{"failed", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded", Message: "too long"}, "pod failed: DeadlineExceeded too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := podProblem(&corev1.Pod{Status: tc.status})
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("podProblem = %v, want %q", err, tc.want)
			}
		})
	}
}

// fakeJobController gives every created agent Job a pod in the given status.
func fakeJobController(cs *fake.Clientset, status corev1.PodStatus) {
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
		job.Name = job.GenerateName + "x1"
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-p", Namespace: job.Namespace, Labels: job.Spec.Template.Labels}, Status: status}
		if err := cs.Tracker().Add(pod); err != nil {
			return true, nil, err
		}
		return true, job, cs.Tracker().Add(job)
	})
}

func TestStartAgent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		code   int
		msg    string
	}{
		{"running", corev1.PodStatus{Phase: corev1.PodRunning}, 0, ""},
		{"image missing", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "not present"}}}}},
			exitcode.Agent, "agent pod ns/svccheck-agent-x1-p: ErrImageNeverPull: not present"},
		{"never starts", corev1.PodStatus{Phase: corev1.PodPending}, exitcode.Agent, "agent pod not running after 600ms (image img:1): Pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			fakeJobController(cs, tc.status)
			a, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 600 * time.Millisecond, Deadline: time.Minute})
			if tc.code == 0 {
				if err != nil || a.pod != "svccheck-agent-x1-p" {
					t.Fatalf("start: %v", err)
				}
				a.Delete()
			} else if exitcode.Of(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v (code %d), want %d %q", err, exitcode.Of(err), tc.code, tc.msg)
			}
			jobs, _ := cs.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
			pods, _ := cs.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
			if len(jobs.Items)+len(pods.Items) != 0 {
				t.Errorf("left behind %d jobs, %d pods", len(jobs.Items), len(pods.Items))
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		ra := r.Spec.ResourceAttributes
		r.Status.Allowed = !(ra.Resource == "pods" && (ra.Subresource == "exec" || ra.Verb == "watch"))
		return true, r, nil
	})
	err := Preflight(context.Background(), cs, "shop", "tools")
	if exitcode.Of(err) != exitcode.Cluster || !strings.Contains(err.Error(), `forbidden: you cannot watch pods in namespace "tools" (needed to run the in-cluster.cluster agent); cannot create pods/exec in namespace "tools" (needed to run the in-cluster.cluster agent)`) {
		t.Errorf("err = %v", err)
	}
}
