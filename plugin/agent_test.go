package plugin

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/svccheck/svccheck/plugin/cluster"
	"github.com/svccheck/svccheck/probe"
)

func TestCleanupDeletesOnlyAgents(t *testing.T) {
	labels := map[string]string{cluster.LabelName: "svccheck", cluster.LabelComponent: "agent", cluster.LabelRun: "r1"}
	cs := fake.NewClientset(
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "svccheck-agent-a", Namespace: "default", Labels: labels}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "svccheck-agent-a-p", Namespace: "default", Labels: labels}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}}},
	)
	var out bytes.Buffer
	o := NewOptions(genericStreams(&out))
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

func TestAgentDeadlineCoversTheRun(t *testing.T) {
	o := NewOptions(genericStreams(io.Discard))
	plan := probe.Plan{Probes: make([]probe.Probe, 640)}
	remote := make([]int, 640)
	for i := range remote {
		remote[i] = i
		plan.Probes[i].Connections = 10
	}
	cfg := o.agentConfig(&plan, remote, probe.FromPod)
	// 6400 attempts / 2048 sockets in flight * 2 s + 60 s start + 30 s margin
	if cfg.Deadline != 98*time.Second || cfg.StartTimeout != time.Minute {
		t.Errorf("deadline %s start %s", cfg.Deadline, cfg.StartTimeout)
	}
}

// The cluster DNS Service is read with its ready endpoints (a diagnosis of a
// name that does not resolve says how many); without it, DNS probes do not
// run.
func TestClusterDNS(t *testing.T) {
	ready, notReady := true, false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-1", Namespace: "kube-system", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.244.1.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			{Addresses: []string{"10.244.2.2"}},
		},
	}
	dnsProbe := func() probe.Plan {
		return probe.Plan{Probes: []probe.Probe{{Via: probe.ViaDNS}, {Via: probe.ViaClusterIP}}}
	}
	for _, tc := range []struct {
		name  string
		objs  []runtime.Object
		dns   *probe.ClusterDNS
		skips string
	}{
		{"Service and endpoints", []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}}, slice},
			&probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: 2}, ""},
		{"Service without endpoints", []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}}},
			&probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: 0}, ""},
		{"no cluster DNS", nil, nil, "no cluster DNS (no kube-system/kube-dns Service)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions(genericStreams(io.Discard))
			o.client = fake.NewClientset(tc.objs...)
			var inv probe.Inventory
			pl := dnsProbe()
			o.clusterDNS(context.Background(), &inv, pl)
			if !reflect.DeepEqual(inv.ClusterDNS, tc.dns) {
				t.Errorf("cluster DNS %+v, want %+v", inv.ClusterDNS, tc.dns)
			}
			if pl.Probes[0].Skip != tc.skips || pl.Probes[1].Skip != "" {
				t.Errorf("skips %q, %q; want %q on the DNS probe only", pl.Probes[0].Skip, pl.Probes[1].Skip, tc.skips)
			}
		})
	}
}
