package agentjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/svccheck/svccheck/plugin/cluster"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Ledger is one svccheck run as the cluster.cluster sees it: the run id every object
// the run creates carries (label svccheck.dev/run), and what the run asked the
// API server to create. Whatever the run learned or lost of those requests
// (a create whose response never came), Cleanup finds its objects by label.
// Its methods are safe for concurrent use by the run's agents.
type Ledger struct {
	// ID is the run id, the value of LabelRun on the run's objects.
	ID string
	// Namespace is the agent namespace, where the run creates objects.
	Namespace string

	mu        sync.Mutex
	creates   int
	uncertain bool
	expires   time.Time
}

// runIDPattern is what NewLedger makes: 10 lowercase hex digits.
var runIDPattern = regexp.MustCompile(`^[0-9a-f]{10}$`)

// NewLedger starts the ledger of a run creating its objects in namespace ns,
// with a random id.
func NewLedger(ns string) *Ledger {
	id := make([]byte, 5)
	_, _ = rand.Read(id)
	return &Ledger{ID: hex.EncodeToString(id), Namespace: ns}
}

// ValidRunID reports whether id can be a run id (for cleanup --run).
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

// RunSelector selects the agent objects of run id.
func RunSelector(id string) string { return AgentSelector + "," + LabelRun + "=" + id }

// Creating records that a create is about to be sent for an object whose
// deadline (activeDeadlineSeconds) removes it after deadline.
func (l *Ledger) Creating(deadline time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.creates++
	// The deadline runs from when the Job starts; a few seconds more cover
	// the controllers (deadline, then TTL) that remove it.
	if t := time.Now().Add(deadline + 10*time.Second); t.After(l.expires) {
		l.expires = t
	}
}

// Lost records that a create's response was lost: the object may exist
// though the run never learned its name, or appear a moment later.
func (l *Ledger) Lost() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uncertain = true
}

// Created reports whether the run sent any create: only then can it have
// left anything in the cluster.
func (l *Ledger) Created() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.creates > 0
}

// Expires is when the deadline of the last agent created removes it, at the
// latest, even if nobody deletes it.
func (l *Ledger) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// CleanupPolicy bounds a run's cleanup.
type CleanupPolicy struct {
	// Budget bounds the whole cleanup, retries included.
	Budget time.Duration
	// Attempt bounds one sweep (its Lists and Deletes).
	Attempt time.Duration
	// Settle is how long to wait, after a sweep found nothing left, before
	// looking once more when a create's response was lost: such a create may
	// still land when the API server resumes.
	Settle time.Duration
	// Backoff between sweeps while the API is unavailable or objects are
	// still terminating.
	Backoff time.Duration
}

// DefaultCleanup rides out an API server that is unavailable for up to about
// 20 s.
func DefaultCleanup() CleanupPolicy {
	return CleanupPolicy{Budget: 20 * time.Second, Attempt: 8 * time.Second, Settle: 2 * time.Second, Backoff: 250 * time.Millisecond}
}

// CleanupError is a cleanup that could not prove the run's objects gone.
// Its message is one line naming the command that finishes the job and when
// the agents' deadline removes them anyway.
type CleanupError struct {
	Run, Namespace string
	// Left names the objects still there when known ("job/x", "pod/y").
	Left []string
	// Expires is when the agents' deadline removes them (zero: unknown).
	Expires time.Time
	Err     error
}

func (e *CleanupError) Error() string {
	what := "could not delete its agent objects"
	if len(e.Left) > 0 {
		what = "left " + strings.Join(e.Left, ", ")
	}
	msg := fmt.Sprintf("warning: svccheck run %s %s in namespace %q", e.Run, what, e.Namespace)
	if e.Err != nil {
		msg += " (" + oneLine(e.Err.Error()) + ")"
	}
	msg += fmt.Sprintf("; run `kubectl svccheck cleanup --run %s -n %s`", e.Run, e.Namespace)
	if !e.Expires.IsZero() {
		msg += "; the agent's deadline removes it by " + e.Expires.Format(time.RFC3339)
	}
	return msg
}

func (e *CleanupError) Unwrap() error { return e.Err }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Cleanup deletes every agent Job (background propagation) and pod of the run
// in its namespace, with a context of its own (it runs after Ctrl-C too), and
// verifies with a List by label that nothing of the run is left. cluster.Transient
// API errors and objects still terminating are retried within the policy's
// budget; a permanent error (forbidden) ends it at once. Nothing is sent when
// the run never created anything. The error is a *CleanupError.
func (l *Ledger) Cleanup(cs kubernetes.Interface, p CleanupPolicy) error {
	if !l.Created() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.Budget)
	defer cancel()
	l.mu.Lock()
	settle := l.uncertain
	l.mu.Unlock()
	selector := RunSelector(l.ID)
	fail := func(left []string, err error) error {
		return &CleanupError{Run: l.ID, Namespace: l.Namespace, Left: left, Expires: l.Expires(), Err: err}
	}
	wait := p.Backoff
	for {
		actx, acancel := context.WithTimeout(ctx, p.Attempt)
		left, err := sweep(actx, cs, l.Namespace, selector)
		acancel()
		switch {
		case err == nil && len(left) == 0 && settle:
			settle = false // once more after a pause: a lost create may still land
			if !cluster.Sleep(ctx, p.Settle) {
				return fail(nil, ctx.Err())
			}
			continue
		case err == nil && len(left) == 0:
			return nil
		case err != nil && !cluster.Transient(err):
			return fail(left, err)
		}
		if !cluster.Sleep(ctx, wait) {
			if err == nil {
				err = errors.New("still terminating")
			}
			return fail(left, err)
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// jobTracking is the finalizer the Job controller puts on a Job's pods until
// it has counted them.
const jobTracking = "batch.kubernetes.io/job-tracking"

// releaseFromJob removes the Job controller's finalizer from an agent pod
// that is being deleted and whose Job the sweep deleted: there is nothing
// left to count, and a controller still catching up (after an API server
// restart its watches back off for many seconds) would keep the pod in the
// API long after its container was killed. It needs patch on pods; without
// it the pod goes when the controller gets to it.
func releaseFromJob(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) {
	i := slices.Index(p.Finalizers, jobTracking)
	if i < 0 {
		return
	}
	patch := fmt.Sprintf(`[{"op":"test","path":"/metadata/finalizers/%d","value":%q},{"op":"remove","path":"/metadata/finalizers/%d"}]`, i, jobTracking, i)
	_, _ = cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
}

// sweep deletes what selector matches in ns, Jobs first (so no controller
// makes a pod after its pods went), then lists again and returns what is
// still there: objects being deleted (a finalizer, a grace period) included.
func sweep(ctx context.Context, cs kubernetes.Interface, ns, selector string) ([]string, error) {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)), PropagationPolicy: &bg}
	list := metav1.ListOptions{LabelSelector: selector}
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, list)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs.Items {
		if j.DeletionTimestamp != nil {
			continue
		}
		if err := cs.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, list)
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0 {
			releaseFromJob(ctx, cs, p) // deleted already; only the Job controller's finalizer holds it
			continue
		}
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	var left []string
	jobs, err = cs.BatchV1().Jobs(ns).List(ctx, list)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs.Items {
		left = append(left, "job/"+j.Name)
	}
	pods, err = cs.CoreV1().Pods(ns).List(ctx, list)
	if err != nil {
		return left, err
	}
	for _, p := range pods.Items {
		left = append(left, "pod/"+p.Name)
	}
	sort.Strings(left)
	return left, nil
}
