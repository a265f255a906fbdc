package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/internal/fixture"
	"github.com/svccheck/svccheck/probe"
)

const clusterFixture = "../../testdata/cluster.yaml"

func svcByName(t *testing.T, inv probe.Inventory, name string) probe.Service {
	t.Helper()
	for _, s := range inv.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("service %q not in inventory", name)
	return probe.Service{}
}

func TestDiscoverInventory(t *testing.T) {
	cs := fixture.Clientset(t, clusterFixture)
	inv, err := Discover(context.Background(), cs, Scope{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(inv.Services); got != 8 {
		t.Fatalf("services = %d, want 8", got)
	}
	for i := 1; i < len(inv.Services); i++ {
		if inv.Services[i-1].Key() >= inv.Services[i].Key() {
			t.Errorf("services not sorted: %s before %s", inv.Services[i-1].Key(), inv.Services[i].Key())
		}
	}
	if inv.EndpointSlices != 7 || len(inv.Nodes) != 3 || len(inv.Pods) != 5 {
		t.Errorf("slices/nodes/pods = %d/%d/%d, want 7/3/5", inv.EndpointSlices, len(inv.Nodes), len(inv.Pods))
	}

	tests := []struct {
		name  string
		check func(t *testing.T, s probe.Service)
	}{
		{"hostname", func(t *testing.T, s probe.Service) {
			if len(s.Endpoints) != 2 || s.Endpoints[0].PodName != "hostname-7d9f-abcde" || s.Endpoints[0].Ports[""] != 80 {
				t.Errorf("endpoints = %+v", s.Endpoints)
			}
			if s.ExternalTrafficPolicy != "" {
				t.Errorf("ClusterIP Service has externalTrafficPolicy %q", s.ExternalTrafficPolicy)
			}
		}},
		{"hostname-nodeport", func(t *testing.T, s probe.Service) {
			if s.Type != probe.TypeNodePort || s.Ports[0].NodePort != 30080 || s.ExternalTrafficPolicy != probe.PolicyCluster {
				t.Errorf("got %+v", s)
			}
		}},
		{"hostname-headless", func(t *testing.T, s probe.Service) {
			if !s.Headless || len(s.ClusterIPs) != 0 {
				t.Errorf("headless=%v clusterIPs=%v", s.Headless, s.ClusterIPs)
			}
		}},
		{"db", func(t *testing.T, s probe.Service) {
			if s.Type != probe.TypeExternalName || s.ExternalName != "db.example.com" {
				t.Errorf("got %+v", s)
			}
		}},
		{"multi", func(t *testing.T, s probe.Service) {
			if s.Ports[1].TargetPort != "metrics" {
				t.Errorf("targetPort = %q, want the declared name", s.Ports[1].TargetPort)
			}
			var ready, notReady int
			for _, ep := range s.Endpoints {
				if ep.Ports["http"] != 8080 || ep.Ports["metrics"] != 9102 {
					t.Errorf("named ports not resolved: %v", ep.Ports)
				}
				if ep.Ready {
					ready++
				} else {
					notReady++
				}
			}
			if ready != 1 || notReady != 1 {
				t.Errorf("ready/notReady = %d/%d", ready, notReady)
			}
		}},
		{"dual", func(t *testing.T, s probe.Service) {
			if len(s.ClusterIPs) != 2 || s.ClusterIPs[1] != "fd00:10:96::103" || len(s.Endpoints) != 2 {
				t.Errorf("clusterIPs=%v endpoints=%d", s.ClusterIPs, len(s.Endpoints))
			}
		}},
		{"lb", func(t *testing.T, s probe.Service) {
			if len(s.LoadBalancerIngress) != 1 || s.LoadBalancerIngress[0] != "192.0.2.10" || s.ExternalTrafficPolicy != probe.PolicyLocal {
				t.Errorf("got %+v", s)
			}
		}},
		{"empty", func(t *testing.T, s probe.Service) {
			if len(s.Endpoints) != 0 {
				t.Errorf("endpoints = %v", s.Endpoints)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, svcByName(t, inv, tc.name)) })
	}
	for _, n := range inv.Nodes {
		want := n.Name != "worker2"
		if n.Ready != want || n.Unschedulable == want {
			t.Errorf("node %s ready=%v unschedulable=%v", n.Name, n.Ready, n.Unschedulable)
		}
	}
}

func TestDiscoverBadInput(t *testing.T) {
	tests := []struct {
		name     string
		scope    Scope
		reactor  func(*testing.T) k8stesting.ReactionFunc
		resource string
		code     int
		msg      string
	}{
		{name: "unknown service suggests", scope: Scope{Namespace: "default", Names: []string{"hostnme"}},
			code: exitcode.Usage, msg: `service "hostnme" not found in namespace "default" (did you mean "hostname"?)`},
		{name: "unknown service far from any", scope: Scope{Namespace: "default", Names: []string{"zzzzzzzzzzzz"}},
			code: exitcode.Usage, msg: `service "zzzzzzzzzzzz" not found in namespace "default"`},
		{name: "unknown namespace", scope: Scope{Namespace: "nope"}, code: exitcode.Usage, msg: `namespace "nope" not found`},
		{name: "selector matches nothing", scope: Scope{Namespace: "default", Selector: "tier=gold"},
			code: exitcode.Usage, msg: `no Services in namespace "default" match selector "tier=gold"`},
		{name: "forbidden", scope: Scope{Namespace: "default"}, resource: "endpointslices",
			reactor: func(*testing.T) k8stesting.ReactionFunc {
				return func(a k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, "",
						errors.New(`User "dev" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default"`))
				}
			},
			code: exitcode.Cluster, msg: `forbidden: cannot list endpointslices.discovery.k8s.io in namespace "default"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fixture.Clientset(t, clusterFixture)
			if tc.reactor != nil {
				cs.PrependReactor("list", tc.resource, tc.reactor(t))
			}
			_, err := Discover(context.Background(), cs, tc.scope)
			var ee *exitcode.Error
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *exitcode.Error", err)
			}
			if ee.Code != tc.code || !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("got code %d %q, want %d %q", ee.Code, err, tc.code, tc.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message is not one line: %q", err)
			}
		})
	}
}

func TestListAllPaginates(t *testing.T) {
	pages := [][]string{{"a", "b"}, {"c", "d"}, {"e"}}
	var limits []int64
	var conts []string
	got, err := listAll[corev1.Service](context.Background(), 2, metav1.ListOptions{LabelSelector: "app=web"}, func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) {
		if o.LabelSelector != "app=web" {
			t.Errorf("selector %q lost", o.LabelSelector)
		}
		limits = append(limits, o.Limit)
		conts = append(conts, o.Continue)
		i := len(conts) - 1
		l := &corev1.ServiceList{}
		if i+1 < len(pages) {
			l.Continue = string(rune('a' + i))
		}
		for _, n := range pages[i] {
			l.Items = append(l.Items, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
		return l, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[4].Name != "e" {
		t.Errorf("items = %v", got)
	}
	if strings.Join(conts, ",") != ",a,b" || limits[2] != 2 {
		t.Errorf("continue tokens %q limits %v", conts, limits)
	}
}

func TestConvertTopologyHints(t *testing.T) {
	ready, name, port := true, "http", int32(80)
	node := "n1"
	sl := &discoveryv1.EndpointSlice{
		Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, NodeName: &node,
				Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "b"}}, ForNodes: []discoveryv1.ForNode{{Name: "n1"}}}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
		},
	}
	eps := convertSlice(sl)
	if len(eps) != 2 || !slices.Equal(eps[0].ForZones, []string{"a", "b"}) || !slices.Equal(eps[0].ForNodes, []string{"n1"}) ||
		eps[1].ForZones != nil || eps[1].ForNodes != nil {
		t.Errorf("endpoints %+v", eps)
	}
	n := convertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelTopologyZone: "a"}}})
	if n.Zone != "a" {
		t.Errorf("zone %q, want a", n.Zone)
	}
}

func TestDiscoverExternalIPs(t *testing.T) {
	cs := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.50", ClusterIPs: []string{"10.96.0.50"},
			ExternalIPs: []string{"192.0.2.20"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	})
	inv, err := Discover(context.Background(), cs, Scope{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Services) != 1 || !slices.Equal(inv.Services[0].ExternalIPs, []string{"192.0.2.20"}) {
		t.Errorf("services %+v", inv.Services)
	}
}
