package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/policy"
)

// Policies is what discovery learned of NetworkPolicy: the policies in
// force in the namespaces that matter, and the labels of those namespaces.
type Policies struct {
	Set policy.Set
	// Unread says why NetworkPolicies could not be read ("" when they
	// were): expectations then assume there are none.
	Unread string
	// NamespacesUnread says why some namespaces' labels could not be read.
	NamespacesUnread string
}

// ReadPolicies lists the NetworkPolicies of namespaces ("" for all: one
// cluster-wide List) and the labels of the namespaces their
// namespaceSelectors are evaluated on. Both are optional: without
// permission, Unread or NamespacesUnread says so and the rest goes on.
func ReadPolicies(ctx context.Context, cs kubernetes.Interface, namespaces []string, page int64) (Policies, error) {
	var out Policies
	if page <= 0 {
		page = 500
	}
	for _, ns := range namespaces {
		items, err := listAll[networkingv1.NetworkPolicy](ctx, page, metav1.ListOptions{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return cs.NetworkingV1().NetworkPolicies(ns).List(ctx, o)
			})
		if err != nil {
			if ctx.Err() != nil || !optional(err) {
				return out, AccessError("list networkpolicies.networking.k8s.io "+where(ns), err)
			}
			out.Unread = fmt.Sprintf("cannot list networkpolicies.networking.k8s.io %s (%s)", where(ns), reasonOf(err))
			out.Set.Policies = nil
			break
		}
		for i := range items {
			out.Set.Policies = append(out.Set.Policies, convertPolicy(&items[i]))
		}
	}
	if out.Unread != "" {
		return out, nil
	}
	var err error
	out.Set.Namespaces, out.NamespacesUnread, err = namespaceLabels(ctx, cs, namespaces)
	return out, err
}

func where(ns string) string {
	if ns == "" {
		return "in all namespaces"
	}
	return fmt.Sprintf("in namespace %q", ns)
}

// optional reports whether an error of an optional read leaves the run
// able to go on: no permission, or an API server without the resource.
func optional(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsUnauthorized(err)
}

func reasonOf(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return err.Error()
}

// namespaceLabels reads the labels of every namespace with one List, or,
// without permission to list, of the namespaces given one Get each.
func namespaceLabels(ctx context.Context, cs kubernetes.Interface, namespaces []string) (map[string]map[string]string, string, error) {
	out := map[string]map[string]string{}
	var list *corev1.NamespaceList
	err := RetryAPI(ctx, func(ctx context.Context) (err error) {
		list, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		return err
	})
	if err == nil {
		for i := range list.Items {
			out[list.Items[i].Name] = list.Items[i].Labels
		}
		return out, "", nil
	}
	if ctx.Err() != nil || !optional(err) {
		return nil, "", AccessError("list namespaces", err)
	}
	var unread []string
	for _, ns := range namespaces {
		if ns == "" {
			continue
		}
		var n *corev1.Namespace
		err := RetryAPI(ctx, func(ctx context.Context) (err error) {
			n, err = cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err
		})
		switch {
		case err == nil:
			out[ns] = n.Labels
		case ctx.Err() != nil || !optional(err):
			return nil, "", AccessError("get namespace "+ns, err)
		default:
			unread = append(unread, ns)
		}
	}
	if len(unread) == 0 && !slices.Contains(namespaces, "") {
		return out, "", nil
	}
	what := "other namespaces"
	if len(unread) > 0 {
		what = "namespaces " + strings.Join(unread, ", ")
	}
	return out, "cannot list namespaces (" + reasonOf(err) + "): the labels of " + what + " are unknown", nil
}

func convertPolicy(np *networkingv1.NetworkPolicy) policy.Policy {
	p := policy.Policy{Namespace: np.Namespace, Name: np.Name, PodSelector: convertSelector(&np.Spec.PodSelector)}
	types := np.Spec.PolicyTypes
	if len(types) == 0 { // the API server defaults them; be as lenient for objects that skipped it
		types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) > 0 {
			types = append(types, networkingv1.PolicyTypeEgress)
		}
	}
	for _, t := range types {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.Ingress = true
		case networkingv1.PolicyTypeEgress:
			p.Egress = true
		}
	}
	for _, r := range np.Spec.Ingress {
		p.IngressRules = append(p.IngressRules, policy.Rule{Peers: convertPeers(r.From), Ports: convertPolicyPorts(r.Ports)})
	}
	for _, r := range np.Spec.Egress {
		p.EgressRules = append(p.EgressRules, policy.Rule{Peers: convertPeers(r.To), Ports: convertPolicyPorts(r.Ports)})
	}
	return p
}

func convertSelector(s *metav1.LabelSelector) policy.Selector {
	out := policy.Selector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, policy.Requirement{Key: e.Key, Operator: string(e.Operator), Values: e.Values})
	}
	return out
}

func convertPeers(peers []networkingv1.NetworkPolicyPeer) []policy.Peer {
	var out []policy.Peer
	for _, pr := range peers {
		var p policy.Peer
		if pr.PodSelector != nil {
			s := convertSelector(pr.PodSelector)
			p.PodSelector = &s
		}
		if pr.NamespaceSelector != nil {
			s := convertSelector(pr.NamespaceSelector)
			p.NamespaceSelector = &s
		}
		if b := pr.IPBlock; b != nil {
			cidr, err := netip.ParsePrefix(b.CIDR)
			if err != nil {
				continue // the API server validates it
			}
			p.IPBlock = &policy.IPBlock{CIDR: cidr.Masked()}
			for _, e := range b.Except {
				if ex, err := netip.ParsePrefix(e); err == nil {
					p.IPBlock.Except = append(p.IPBlock.Except, ex.Masked())
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func convertPolicyPorts(ports []networkingv1.NetworkPolicyPort) []policy.Port {
	var out []policy.Port
	for _, pp := range ports {
		p := policy.Port{Protocol: probe.ProtocolTCP}
		if pp.Protocol != nil {
			p.Protocol = probe.Protocol(*pp.Protocol)
		}
		if pp.Port != nil {
			if pp.Port.StrVal != "" {
				p.Name = pp.Port.StrVal
			} else {
				p.Port = pp.Port.IntVal
			}
		}
		if pp.EndPort != nil {
			p.EndPort = *pp.EndPort
		}
		out = append(out, p)
	}
	return out
}

// ClientLabels resolves --as-client's NAMESPACE/KIND/NAME to the labels of
// the pods that client runs: a Deployment's, StatefulSet's, DaemonSet's,
// ReplicaSet's or Job's pod template, or a pod's own labels without those
// its controller stamps per pod.
func ClientLabels(ctx context.Context, cs kubernetes.Interface, ns, kind, name string) (map[string]string, error) {
	get := metav1.GetOptions{}
	getters := map[string]func() (map[string]string, error){
		"deployment": func() (map[string]string, error) {
			o, err := cs.AppsV1().Deployments(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return o.Spec.Template.Labels })
		},
		"statefulset": func() (map[string]string, error) {
			o, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return o.Spec.Template.Labels })
		},
		"daemonset": func() (map[string]string, error) {
			o, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return o.Spec.Template.Labels })
		},
		"replicaset": func() (map[string]string, error) {
			o, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return o.Spec.Template.Labels })
		},
		"job": func() (map[string]string, error) {
			o, err := cs.BatchV1().Jobs(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return withoutPerPodLabels(o.Spec.Template.Labels) })
		},
		"pod": func() (map[string]string, error) {
			o, err := cs.CoreV1().Pods(ns).Get(ctx, name, get)
			return templateLabels(err, func() map[string]string { return withoutPerPodLabels(o.Labels) })
		},
	}
	getter, ok := getters[kind]
	if !ok {
		return nil, &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("--as-client: unknown kind %q", kind)}
	}
	var labels map[string]string
	err := RetryAPI(ctx, func(context.Context) (err error) {
		labels, err = getter()
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("--as-client: %s %q not found in namespace %q", kind, name, ns)}
	}
	if err != nil {
		return nil, AccessError(fmt.Sprintf("get %s %s/%s for --as-client", kind, ns, name), err)
	}
	if len(labels) == 0 {
		return nil, &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("--as-client: %s %s/%s has no pod labels to probe with", kind, ns, name)}
	}
	return labels, nil
}

func templateLabels(err error, labels func() map[string]string) (map[string]string, error) {
	if err != nil {
		return nil, err
	}
	return labels(), nil
}

// ClientKinds are the kinds --as-client resolves.
var ClientKinds = []string{"deployment", "statefulset", "daemonset", "replicaset", "job", "pod"}

// withoutPerPodLabels drops the labels controllers set on each pod, which
// no other pod of the client shares.
func withoutPerPodLabels(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		switch k {
		case "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
			"apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-completion-index", "batch.kubernetes.io/controller-uid",
			"controller-uid", "batch.kubernetes.io/job-name", "job-name":
			continue
		}
		out[k] = v
	}
	return out
}

// LabelString renders labels as k=v,k=v, sorted.
func LabelString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return strings.Join(keys, ",")
}
