package agentjob

import (
	"context"
	"fmt"
	"strings"

	"github.com/svccheck/svccheck/plugin/cluster"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svccheck/svccheck/internal/exitcode"
)

// permission is one verb on one resource that svccheck needs.
type permission struct {
	verb, group, resource, subresource, namespace, why string
}

func (p permission) String() string {
	r := p.resource
	if p.subresource != "" {
		r += "/" + p.subresource
	}
	if p.group != "" {
		r += "." + p.group
	}
	where := fmt.Sprintf("in namespace %q", p.namespace)
	if p.namespace == "" {
		where = "cluster.cluster-wide"
	}
	return fmt.Sprintf("%s %s %s", p.verb, r, where)
}

// agentPermissions lists what a run with the in-cluster.cluster agent needs: reading
// the scope, and running, watching, execing into and deleting the agent.
func agentPermissions(scopeNS, agentNS string) []permission {
	const read, agent = "to discover Services", "to run the in-cluster.cluster agent"
	return []permission{
		{"list", "", "services", "", scopeNS, read},
		{"list", "discovery.k8s.io", "endpointslices", "", scopeNS, read},
		{"list", "", "pods", "", scopeNS, read},
		{"list", "", "nodes", "", "", read},
		{"create", "batch", "jobs", "", agentNS, agent},
		{"list", "batch", "jobs", "", agentNS, agent},
		{"delete", "batch", "jobs", "", agentNS, agent},
		{"list", "", "pods", "", agentNS, agent},
		{"watch", "", "pods", "", agentNS, agent},
		{"delete", "", "pods", "", agentNS, agent},
		{"create", "", "pods", "exec", agentNS, agent},
	}
}

// Preflight asks the API server, before anything is created, whether the
// current user holds every permission the run needs (SelfSubjectAccessReview).
// The first missing one is named exactly, exit code 3.
func Preflight(ctx context.Context, cs kubernetes.Interface, scopeNS, agentNS string) error {
	perms := agentPermissions(scopeNS, agentNS)
	denied := make([]string, len(perms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, p := range perms {
		g.Go(func() error {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: p.namespace, Verb: p.verb,
					Group: p.group, Resource: p.resource, Subresource: p.subresource},
			}}
			var res *authorizationv1.SelfSubjectAccessReview
			err := cluster.RetryAPI(gctx, func(ctx context.Context) (err error) {
				res, err = cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				return err
			})
			if err != nil {
				return cluster.AccessError("check permission to "+p.String(), err)
			}
			if !res.Status.Allowed {
				denied[i] = p.String() + " (needed " + p.why + ")"
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var missing []string
	for _, d := range denied {
		if d != "" {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return &exitcode.Error{Code: exitcode.Cluster, Err: fmt.Errorf("forbidden: you cannot %s; deploy/rbac.yaml grants what svccheck needs", strings.Join(missing, "; cannot "))}
	}
	return nil
}
