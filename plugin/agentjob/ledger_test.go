package agentjob

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/svccheck/svccheck/plugin/cluster"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// lostResponse is what a create sent to a paused API server returns: the
// client's timeout, whatever the server does with the request later.
var lostResponse = &url.Error{Op: "Post", URL: "https://10.250.0.11:6443/apis/batch/v1/namespaces/ns/jobs", Err: timeoutErr{}}

func fastCleanup() CleanupPolicy {
	return CleanupPolicy{Budget: 2 * time.Second, Attempt: 500 * time.Millisecond, Settle: 100 * time.Millisecond, Backoff: 5 * time.Millisecond}
}

// jobController plays the Job controller and a kubelet: every Job that lands
// gets a pod with the template's labels, in phase phases[n] for the n-th Job.
type jobController struct {
	cs     *fake.Clientset
	mu     sync.Mutex
	n      int
	phases []corev1.PodPhase
}

func (c *jobController) land(job *batchv1.Job) (*batchv1.Job, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	job = job.DeepCopy()
	job.Name = job.GenerateName + string(rune('a'+c.n))
	phase := c.phases[min(c.n, len(c.phases)-1)]
	c.n++
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-p", Namespace: job.Namespace, Labels: job.Spec.Template.Labels},
		Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: phase}}
	if err := c.cs.Tracker().Add(pod); err != nil {
		return nil, err
	}
	return job, c.cs.Tracker().Add(job)
}

func left(t *testing.T, cs *fake.Clientset, ns, selector string) int {
	t.Helper()
	jobs, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return len(jobs.Items) + len(pods.Items)
}

// TestStartAgentCreateResponseLost: the API server made the Job but its
// answer never came. The agent adopts that Job instead of making another.
func TestStartAgentCreateResponseLost(t *testing.T) {
	cs := fake.NewClientset()
	jc := &jobController{cs: cs, phases: []corev1.PodPhase{corev1.PodRunning}}
	creates := 0
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		creates++
		job, err := jc.land(a.(k8stesting.CreateAction).GetObject().(*batchv1.Job))
		if creates == 1 {
			return true, nil, lostResponse // it landed; the answer was lost
		}
		return true, job, err
	})
	run := NewLedger("ns")
	a, err := StartAgent(fastRetry(context.Background()), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 2 * time.Second, Deadline: time.Minute, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if creates != 1 || a.job != "svccheck-agent-a" || a.pod != "svccheck-agent-a-p" {
		t.Errorf("%d creates, job %q pod %q: want the lost create's Job adopted", creates, a.job, a.pod)
	}
	if err := run.Cleanup(cs, fastCleanup()); err != nil {
		t.Fatal(err)
	}
	if n := left(t, cs, "ns", ""); n != 0 {
		t.Errorf("%d objects left", n)
	}
}

// TestStartAgentLateCreateMakesTwoJobs: the lost create lands only after the
// agent created again: two Jobs of one agent. The wait takes the pod that
// runs, and the run's cleanup removes both Jobs and both pods.
func TestStartAgentLateCreateMakesTwoJobs(t *testing.T) {
	cs := fake.NewClientset()
	// The other run's Job, then this agent's second create (its pod stays
	// pending), then the late first create (its pod runs).
	jc := &jobController{cs: cs, phases: []corev1.PodPhase{corev1.PodRunning, corev1.PodPending, corev1.PodRunning}}
	creates := 0
	var late *batchv1.Job
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		creates++
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if creates == 1 {
			late = job.DeepCopy()
			return true, nil, lostResponse // not landed yet
		}
		made, err := jc.land(job)
		if err == nil {
			_, err = jc.land(late) // and now the first one lands too
		}
		return true, made, err
	})
	run := NewLedger("ns")
	run2 := NewLedger("ns") // another run's agent, which must survive this run's cleanup
	other, err := jc.land(&batchv1.Job{ObjectMeta: metav1.ObjectMeta{GenerateName: "other-", Namespace: "ns"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
			LabelName: "svccheck", LabelComponent: "agent", LabelRun: run2.ID}}}}})
	if err != nil {
		t.Fatal(err)
	}
	other.Labels = other.Spec.Template.Labels
	if _, err := cs.BatchV1().Jobs("ns").Update(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := StartAgent(fastRetry(context.Background()), cs, nil, AgentConfig{Namespace: "ns", Image: "img:1", StartTimeout: 2 * time.Second, Deadline: time.Minute, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if n := left(t, cs, "ns", RunSelector(run.ID)); creates != 2 || n != 4 {
		t.Fatalf("%d creates, %d objects of the run: want 2 Jobs and 2 pods", creates, n)
	}
	if a.pod != "svccheck-agent-c-p" {
		t.Errorf("agent pod %q, want the running one, of the late Job (svccheck-agent-c-p)", a.pod)
	}
	if err := run.Cleanup(cs, fastCleanup()); err != nil {
		t.Fatal(err)
	}
	if n := left(t, cs, "ns", RunSelector(run.ID)); n != 0 {
		t.Errorf("%d objects of the run left", n)
	}
	if n := left(t, cs, "ns", RunSelector(run2.ID)); n != 2 {
		t.Errorf("the other run has %d objects, want its Job and pod untouched", n)
	}
}

// TestStartAgentCreateForbidden: a permanent error is not retried.
func TestStartAgentCreateForbidden(t *testing.T) {
	cs := fake.NewClientset()
	creates := 0
	cs.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates++
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("no"))
	})
	_, err := StartAgent(fastRetry(context.Background()), cs, nil, AgentConfig{Namespace: "ns", StartTimeout: time.Second, Deadline: time.Minute})
	if creates != 1 || err == nil || !strings.Contains(err.Error(), "forbidden: cannot create jobs.batch") {
		t.Errorf("%d creates, err %v", creates, err)
	}
}

func runObjects(run *Ledger, n int) []runtime.Object {
	labels := map[string]string{LabelName: "svccheck", LabelComponent: "agent", LabelRun: run.ID}
	var objs []runtime.Object
	for i := range n {
		name := "svccheck-agent-" + run.ID + "-" + string(rune('a'+i))
		objs = append(objs,
			&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: run.Namespace, Labels: labels}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name + "-p", Namespace: run.Namespace, Labels: labels}})
	}
	return objs
}

func TestLedgerCleanup(t *testing.T) {
	run, other := NewLedger("ns"), NewLedger("ns")
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	objs := append(append(runObjects(run, 2), runObjects(other, 1)...), web)

	t.Run("nothing created, nothing asked", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		if err := NewLedger("ns").Cleanup(cs, fastCleanup()); err != nil || len(cs.Actions()) != 0 {
			t.Errorf("err %v, %d API calls", err, len(cs.Actions()))
		}
	})
	t.Run("deletes that fail for a while", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		fails := 0
		cs.PrependReactor("delete", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
			if fails < 3 {
				fails++
				return true, nil, apierrors.NewServiceUnavailable("etcd unavailable")
			}
			return false, nil, nil
		})
		run.Creating(time.Minute)
		if err := run.Cleanup(cs, fastCleanup()); err != nil {
			t.Fatal(err)
		}
		if n := left(t, cs, "ns", RunSelector(run.ID)); n != 0 || fails != 3 {
			t.Errorf("%d objects of the run left after %d failed deletes", n, fails)
		}
		if n := left(t, cs, "ns", ""); n != 3 {
			t.Errorf("%d objects in all, want the other run's 2 and web", n)
		}
		for _, a := range cs.Actions() {
			if d, ok := a.(k8stesting.DeleteActionImpl); ok {
				o := d.GetDeleteOptions()
				if o.PropagationPolicy == nil || *o.PropagationPolicy != metav1.DeletePropagationBackground || o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 {
					t.Errorf("delete %s/%s with %+v, want background propagation and no grace period", a.GetResource().Resource, d.Name, o)
				}
			}
		}
	})
	t.Run("forbidden: one line at once", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("no"))
		})
		start := time.Now()
		err := run.Cleanup(cs, fastCleanup())
		var ce *CleanupError
		if !errors.As(err, &ce) || time.Since(start) > time.Second {
			t.Fatalf("err %v after %s", err, time.Since(start))
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "kubectl svccheck cleanup --run "+run.ID+" -n ns") ||
			!strings.Contains(msg, "deadline removes it by ") || !strings.Contains(msg, "forbidden") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("API down throughout: bounded", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("*", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, lostResponse })
		p := fastCleanup()
		p.Budget = 300 * time.Millisecond
		start := time.Now()
		err := run.Cleanup(cs, p)
		if d := time.Since(start); err == nil || d > 500*time.Millisecond {
			t.Errorf("err %v after %s", err, d)
		}
	})
	t.Run("a lost create that lands late", func(t *testing.T) {
		cs := fake.NewClientset()
		late := NewLedger("ns")
		late.Creating(time.Minute)
		late.Lost()
		lists := 0
		cs.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			if lists++; lists == 3 { // after the first sweep found nothing
				for _, o := range runObjects(late, 1) {
					_ = cs.Tracker().Add(o)
				}
			}
			return false, nil, nil
		})
		if err := late.Cleanup(cs, fastCleanup()); err != nil {
			t.Fatal(err)
		}
		if n := left(t, cs, "ns", ""); n != 0 {
			t.Errorf("%d objects left: the late create was missed", n)
		}
	})
}

// TestLedgerCleanupReleasesJobPods: a pod deleted already but held by the
// Job controller's finalizer (the controller is catching up after an API
// server restart) is released, so nothing of the run is left.
func TestLedgerCleanupReleasesJobPods(t *testing.T) {
	run := NewLedger("ns")
	run.Creating(time.Minute)
	now := metav1.Now()
	held := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-p", Namespace: "ns", DeletionTimestamp: &now, DeletionGracePeriodSeconds: new(int64),
		Finalizers: []string{"example.com/other", jobTracking},
		Labels:     map[string]string{LabelName: "svccheck", LabelComponent: "agent", LabelRun: run.ID}}}
	cs := fake.NewClientset(held)
	// The API server's part: an object being deleted goes with its last finalizer.
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := cs.Tracker().Get(a.GetResource(), a.GetNamespace(), a.(k8stesting.PatchAction).GetName())
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod)
		if got := string(a.(k8stesting.PatchAction).GetPatch()); !strings.Contains(got, `"op":"test","path":"/metadata/finalizers/1"`) {
			t.Errorf("patch %s", got)
		}
		p.Finalizers = []string{"example.com/other"}
		return true, p, cs.Tracker().Update(a.GetResource(), p, a.GetNamespace())
	})
	p := fastCleanup()
	p.Budget = 300 * time.Millisecond
	_ = run.Cleanup(cs, p)
	got, err := cs.CoreV1().Pods("ns").Get(context.Background(), "agent-p", metav1.GetOptions{})
	if err != nil || slices.Contains(got.Finalizers, jobTracking) || len(got.Finalizers) != 1 {
		t.Errorf("pod %v (%v): want the job-tracking finalizer gone and the other kept", got, err)
	}
}

// timeoutErr is a network timeout, as client-go returns for an API server
// that does not answer.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// fastRetry is cluster.DefaultRetry's shape at a test's pace.
func fastRetry(ctx context.Context) context.Context {
	return cluster.WithRetryPolicy(ctx, cluster.RetryPolicy{Backoff: wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 6, Cap: 20 * time.Millisecond}, Budget: time.Second})
}
