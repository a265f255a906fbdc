package cluster

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/probe/policy"
)

func shopPolicy() *networkingv1.NetworkPolicy {
	udp := corev1.ProtocolUDP
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front"}}}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}}, NamespaceSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				},
				Ports: []networkingv1.NetworkPolicyPort{
					{Port: ptr.To(intstr.FromString("http"))},
					{Protocol: &udp, Port: ptr.To(intstr.FromInt32(5000)), EndPort: ptr.To(int32(5100))},
				},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
}

func TestConvertPolicy(t *testing.T) {
	got := convertPolicy(shopPolicy())
	want := policy.Policy{Namespace: "shop", Name: "web", Ingress: true, Egress: true,
		PodSelector: policy.Selector{MatchLabels: map[string]string{"app": "web"},
			MatchExpressions: []policy.Requirement{{Key: "tier", Operator: "In", Values: []string{"front"}}}},
		IngressRules: []policy.Rule{{
			Peers: []policy.Peer{
				{PodSelector: &policy.Selector{MatchLabels: map[string]string{"app": "frontend"}}, NamespaceSelector: &policy.Selector{}},
				{IPBlock: &policy.IPBlock{CIDR: netip.MustParsePrefix("10.0.0.0/8"), Except: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}},
			},
			Ports: []policy.Port{{Protocol: "TCP", Name: "http"}, {Protocol: "UDP", Port: 5000, EndPort: 5100}},
		}},
		EgressRules: []policy.Rule{{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func forbid(resource, verb string) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New(verb+" denied"))
	}
}

func TestReadPolicies(t *testing.T) {
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	objs := []runtime.Object{shopPolicy(), ns("shop", map[string]string{"team": "a"}), ns("svccheck", map[string]string{"team": "sre"}), ns("other", nil)}
	t.Run("everything readable", func(t *testing.T) {
		got, err := ReadPolicies(context.Background(), fake.NewClientset(objs...), []string{"shop", "svccheck"}, 0)
		if err != nil || got.Unread != "" || got.NamespacesUnread != "" || len(got.Set.Policies) != 1 || got.Set.Namespaces["svccheck"]["team"] != "sre" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("no permission to list policies", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("list", "networkpolicies", forbid("networkpolicies", "list"))
		got, err := ReadPolicies(context.Background(), cs, []string{"shop"}, 0)
		if err != nil || got.Unread != `cannot list networkpolicies.networking.k8s.io in namespace "shop" (forbidden)` || got.Set.Policies != nil {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("namespaces by Get when List is forbidden", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("list", "namespaces", forbid("namespaces", "list"))
		got, err := ReadPolicies(context.Background(), cs, []string{"shop", "svccheck"}, 0)
		if err != nil || got.NamespacesUnread != "" || got.Set.Namespaces["svccheck"]["team"] != "sre" || got.Set.Namespaces["other"] != nil {
			t.Fatalf("got %+v, %v", got, err)
		}
		cs.PrependReactor("get", "namespaces", forbid("namespaces", "get"))
		got, err = ReadPolicies(context.Background(), cs, []string{"shop", "svccheck"}, 0)
		if err != nil || got.NamespacesUnread != "cannot list namespaces (forbidden): the labels of namespaces shop, svccheck are unknown" || len(got.Set.Namespaces) != 0 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("an API error that is not about permission", func(t *testing.T) {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("list", "networkpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		})
		_, err := ReadPolicies(context.Background(), cs, []string{"shop"}, 0)
		if exitcode.Of(err) != exitcode.Cluster {
			t.Fatalf("got %v (exit %d)", err, exitcode.Of(err))
		}
	})
}

func TestClientLabels(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "frontend"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "frontend"}}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "frontend-x", Labels: map[string]string{"app": "frontend", "pod-template-hash": "abc"}}}
	cs := fake.NewClientset(dep, pod)
	for _, tc := range []struct {
		kind, name string
		want       string
		code       int
	}{
		{"deployment", "frontend", "app=frontend", 0},
		{"pod", "frontend-x", "app=frontend", 0},
		{"deployment", "backend", `--as-client: deployment "backend" not found in namespace "shop"`, exitcode.Usage},
		{"cronjob", "x", `--as-client: unknown kind "cronjob"`, exitcode.Usage},
	} {
		got, err := ClientLabels(context.Background(), cs, "shop", tc.kind, tc.name)
		if tc.code != 0 {
			if exitcode.Of(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s/%s: got %v", tc.kind, tc.name, err)
			}
			continue
		}
		if err != nil || LabelString(got) != tc.want {
			t.Errorf("%s/%s: got %v, %v", tc.kind, tc.name, got, err)
		}
	}
}
