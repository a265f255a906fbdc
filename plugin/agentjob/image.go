package agentjob

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// pullError is an agent pod that cannot get its image. Once withImageHelp has
// named the image, its message says how to provide it.
type pullError struct {
	Reason, Message string
	Image           string
	Policy          corev1.PullPolicy
	Node            string
}

func (e *pullError) Error() string {
	msg := e.Reason + ": " + e.Message
	if e.Image == "" {
		return msg
	}
	on := "the node"
	if e.Node != "" {
		on = "node " + e.Node
	}
	const load = "build it with `make image` and load it into every node (kind load image-archive, minikube image load, " +
		"k3s ctr images import, ctr -n k8s.io images import)"
	const mirror = "mirror it to a registry the nodes can pull from and pass --image REGISTRY/svccheck:TAG (or SVCCHECK_IMAGE)"
	switch {
	case e.Reason == "InvalidImageName":
		return fmt.Sprintf("%s: the agent image %q is not a valid image reference: pass --image REGISTRY/svccheck:TAG (or SVCCHECK_IMAGE)", msg, e.Image)
	case e.Reason == "ErrImageNeverPull" || e.Policy == corev1.PullNever:
		return fmt.Sprintf("%s: the agent image %s is not on %s and --image-pull-policy Never forbids pulling it: %s; or %s with another pull policy",
			msg, e.Image, on, load, mirror)
	}
	return fmt.Sprintf("%s: %s cannot pull the agent image %s: %s; or %s, with --image-pull-policy IfNotPresent", msg, on, e.Image, mirror, load)
}

// withImageHelp names the image, pull policy and node (the pod's, else the
// one asked for) in an image problem,
// so its message says how to provide the image; other errors pass through.
func withImageHelp(err error, cfg AgentConfig, node string) error {
	var pe *pullError
	if !errors.As(err, &pe) {
		return err
	}
	out := *pe
	out.Image, out.Policy, out.Node = cfg.Image, cfg.ImagePullPolicy, node
	if out.Node == "" {
		out.Node = cfg.Node
	}
	return &out
}
