package agentjob

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svccheck/svccheck/internal/exitcode"
)

// TestImageProblemSaysHowToProvideTheImage: an agent pod that cannot get
// its image ends the run with exit 4 and a message naming the image and how
// to provide it.
func TestImageProblemSaysHowToProvideTheImage(t *testing.T) {
	const img = "ghcr.io/svccheck/svccheck:1.2.3"
	for _, tc := range []struct {
		reason, message string
		policy          corev1.PullPolicy
		want            []string
		not             []string
	}{
		{"ErrImagePull", "failed to pull and unpack image: dial tcp: i/o timeout", corev1.PullIfNotPresent,
			[]string{"ErrImagePull: failed to pull", "node n1 cannot pull the agent image " + img, "--image REGISTRY/svccheck:TAG", "SVCCHECK_IMAGE", "make image", "kind load image-archive", "minikube image load", "k3s ctr images import", "ctr -n k8s.io images import"},
			[]string{"forbids"}},
		{"ImagePullBackOff", "Back-off pulling image", corev1.PullAlways,
			[]string{"ImagePullBackOff: Back-off", "cannot pull the agent image " + img, "--image REGISTRY/svccheck:TAG", "make image"}, nil},
		{"ErrImageNeverPull", `Container image "` + img + `" is not present with pull policy of Never`, corev1.PullNever,
			[]string{"the agent image " + img + " is not on node n1", "--image-pull-policy Never forbids pulling it", "make image", "kind load image-archive", "--image REGISTRY/svccheck:TAG"},
			[]string{"cannot pull"}},
		{"InvalidImageName", "Failed to apply default image tag", corev1.PullIfNotPresent,
			[]string{`the agent image "` + img + `" is not a valid image reference`, "--image REGISTRY/svccheck:TAG"}, []string{"make image"}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			cs := fake.NewClientset()
			fakeJobController(cs, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: tc.reason, Message: tc.message}}}}})
			_, err := StartAgent(context.Background(), cs, nil, AgentConfig{Namespace: "ns", Image: img, ImagePullPolicy: tc.policy,
				Node: "n1", StartTimeout: 5 * time.Second, Deadline: time.Minute})
			if exitcode.Of(err) != exitcode.Agent {
				t.Fatalf("exit code %d, want %d: %v", exitcode.Of(err), exitcode.Agent, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("message says %q:\n%s", w, err)
				}
			}
		})
	}
}

// TestOtherPodProblemsGetNoImageHelp: a crash is not an image problem.
func TestOtherPodProblemsGetNoImageHelp(t *testing.T) {
	err := withImageHelp(podProblem(&corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}}}}}),
		AgentConfig{Image: "img:1"}, "n1")
	if err == nil || err.Error() != "CrashLoopBackOff: back-off 10s" {
		t.Errorf("err = %v", err)
	}
}
