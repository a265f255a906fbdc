// Package cluster is what svccheck reads from the Kubernetes API: discovery of
// Services, EndpointSlices, Nodes and Pods into an inventory, NetworkPolicies
// and namespace labels, a client workload's pod labels, the cluster DNS; and
// how every API call rides out an unavailable API server (RetryAPI).
package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/svccheck/svccheck/internal/exitcode"
	"github.com/svccheck/svccheck/internal/strdist"
	"github.com/svccheck/svccheck/probe"
)

// Scope selects the Services to discover.
type Scope struct {
	// Namespace is the namespace to look in; "" means all namespaces.
	Namespace string
	// Selector is a label selector on Services.
	Selector string
	// Names restricts discovery to these Services (Namespace must be set).
	Names []string
	// PageSize is the List page size; 500 when zero.
	PageSize int64
}

// Discover lists Services, EndpointSlices, Nodes and Pods in scope, one
// paginated List per kind, and joins them into an Inventory. Errors are
// *ExitError values with exit code 2 (bad input) or 3 (cluster access).
func Discover(ctx context.Context, cs kubernetes.Interface, sc Scope) (probe.Inventory, error) {
	ns := sc.Namespace
	where := fmt.Sprintf("in namespace %q", ns)
	if ns == "" {
		where = "in all namespaces"
	}
	page := sc.PageSize
	if page <= 0 {
		page = 500
	}
	svcs, err := listAll[corev1.Service](ctx, page, metav1.ListOptions{LabelSelector: sc.Selector},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Services(ns).List(ctx, o)
		})
	if err != nil {
		return probe.Inventory{}, AccessError("list services "+where, err)
	}
	if svcs, err = filterNames(svcs, sc.Names, ns); err != nil {
		return probe.Inventory{}, err
	}
	if len(svcs) == 0 {
		return probe.Inventory{}, noServices(ctx, cs, sc, where)
	}
	slices, err := listAll[discoveryv1.EndpointSlice](ctx, page, metav1.ListOptions{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cs.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
		})
	if err != nil {
		return probe.Inventory{}, AccessError("list endpointslices.discovery.k8s.io "+where, err)
	}
	nodes, err := listAll[corev1.Node](ctx, page, metav1.ListOptions{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Nodes().List(ctx, o)
		})
	if err != nil {
		return probe.Inventory{}, AccessError("list nodes", err)
	}
	pods, err := listAll[corev1.Pod](ctx, page, metav1.ListOptions{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Pods(ns).List(ctx, o)
		})
	if err != nil {
		return probe.Inventory{}, AccessError("list pods "+where, err)
	}
	inv := buildInventory(svcs, slices, nodes, pods)
	addProbeMessages(ctx, cs, &inv)
	return inv, nil
}

// addProbeMessages attaches the last failed-probe event to pods that are not
// ready, one List of "Unhealthy" events per namespace that has such pods.
// Events are best effort: without permission the readiness verdict still
// names the pod and its containers.
func addProbeMessages(ctx context.Context, cs kubernetes.Interface, inv *probe.Inventory) {
	byNS := map[string]map[string]*probe.Pod{}
	for i := range inv.Pods {
		p := &inv.Pods[i]
		if p.Ready || p.Phase != string(corev1.PodRunning) {
			continue
		}
		if byNS[p.Namespace] == nil {
			byNS[p.Namespace] = map[string]*probe.Pod{}
		}
		byNS[p.Namespace][p.Name] = p
	}
	for ns, pods := range byNS {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=Unhealthy", Limit: 500})
		if err != nil {
			continue
		}
		latest := map[string]time.Time{}
		for _, e := range evs.Items {
			p, ok := pods[e.InvolvedObject.Name]
			if !ok || e.InvolvedObject.Kind != "Pod" {
				continue
			}
			at := EventTime(&e)
			if at.Before(latest[p.Name]) {
				continue
			}
			latest[p.Name] = at
			p.ProbeMessage = strings.TrimSpace(e.Message)
		}
	}
}

// listAll lists every T with client-go's pager: page items at a time
// (limit/continue), and one full List if a continue token expires midway.
// Each page is retried on transient errors (RetryAPI).
func listAll[T any](ctx context.Context, page int64, opts metav1.ListOptions, list pager.ListPageFunc) ([]T, error) {
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (obj runtime.Object, err error) {
		err = RetryAPI(ctx, func(ctx context.Context) error {
			obj, err = list(ctx, o)
			return err
		})
		return obj, err
	})
	p.PageSize = page
	obj, _, err := p.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	var all []T
	err = meta.EachListItem(obj, func(o runtime.Object) error {
		item, ok := any(o).(*T)
		if !ok {
			return fmt.Errorf("list returned a %T, want a %T", o, item)
		}
		all = append(all, *item)
		return nil
	})
	return all, err
}

func filterNames(svcs []corev1.Service, names []string, ns string) ([]corev1.Service, error) {
	if len(names) == 0 {
		return svcs, nil
	}
	byName := map[string]int{}
	for i := range svcs {
		byName[svcs[i].Name] = i
	}
	out := make([]corev1.Service, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		i, ok := byName[n]
		if !ok {
			msg := fmt.Sprintf("service %q not found in namespace %q", n, ns)
			if s := suggest(n, svcs); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("%s", msg)}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, svcs[i])
		}
	}
	return out, nil
}

// suggest returns the Service name closest to n, if it is close enough to be
// a plausible typo.
func suggest(n string, svcs []corev1.Service) string {
	best, bestD := "", len(n)/2+2
	for i := range svcs {
		c := svcs[i].Name
		d := strdist.Levenshtein(n, c)
		if strings.HasPrefix(c, n) || strings.HasPrefix(n, c) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func noServices(ctx context.Context, cs kubernetes.Interface, sc Scope, where string) error {
	if sc.Namespace != "" {
		err := RetryAPI(ctx, func(ctx context.Context) error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, sc.Namespace, metav1.GetOptions{})
			return err
		})
		if apierrors.IsNotFound(err) {
			return &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("namespace %q not found", sc.Namespace)}
		}
	}
	msg := "no Services " + where
	if sc.Selector != "" {
		msg += fmt.Sprintf(" match selector %q", sc.Selector)
	}
	return &exitcode.Error{Code: exitcode.Usage, Err: fmt.Errorf("%s", msg)}
}

// AccessError wraps an API error as a cluster access error (exit 3), naming
// what was attempted.
func AccessError(what string, err error) error {
	if apierrors.IsForbidden(err) {
		return &exitcode.Error{Code: exitcode.Cluster, Err: fmt.Errorf("forbidden: cannot %s: %w", what, err)}
	}
	return &exitcode.Error{Code: exitcode.Cluster, Err: fmt.Errorf("%s: %w", what, err)}
}

func buildInventory(svcs []corev1.Service, slices []discoveryv1.EndpointSlice, nodes []corev1.Node, pods []corev1.Pod) probe.Inventory {
	inv := probe.Inventory{}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range slices {
		s := &slices[i]
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := probe.ServiceKey(s.Namespace, name)
		bySvc[key] = append(bySvc[key], s)
	}
	changes := newChangeIndex(pods)
	for i := range svcs {
		s := convertService(&svcs[i])
		s.LastChange = changes.lastChange(&svcs[i], bySvc[s.Key()])
		for _, sl := range bySvc[s.Key()] {
			inv.EndpointSlices++
			s.Endpoints = append(s.Endpoints, convertSlice(sl)...)
		}
		sort.SliceStable(s.Endpoints, func(a, b int) bool {
			ea, eb := s.Endpoints[a], s.Endpoints[b]
			if ea.PodName != eb.PodName {
				return ea.PodName < eb.PodName
			}
			return ea.Address < eb.Address
		})
		inv.Services = append(inv.Services, s)
	}
	sort.Slice(inv.Services, func(a, b int) bool { return inv.Services[a].Key() < inv.Services[b].Key() })
	for i := range nodes {
		inv.Nodes = append(inv.Nodes, convertNode(&nodes[i]))
	}
	sort.Slice(inv.Nodes, func(a, b int) bool { return inv.Nodes[a].Name < inv.Nodes[b].Name })
	for i := range pods {
		inv.Pods = append(inv.Pods, convertPod(&pods[i]))
	}
	return inv
}

func convertService(s *corev1.Service) probe.Service {
	out := probe.Service{
		Namespace:       s.Namespace,
		Name:            s.Name,
		Type:            string(s.Spec.Type),
		ExternalName:    s.Spec.ExternalName,
		SessionAffinity: string(s.Spec.SessionAffinity),
		Selector:        s.Spec.Selector,
	}
	if out.Type == "" {
		out.Type = probe.TypeClusterIP
	}
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if ip == corev1.ClusterIPNone {
			out.Headless = true
			continue
		}
		if ip != "" {
			out.ClusterIPs = append(out.ClusterIPs, ip)
		}
	}
	if s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer {
		out.ExternalTrafficPolicy = string(s.Spec.ExternalTrafficPolicy)
		if out.ExternalTrafficPolicy == "" {
			out.ExternalTrafficPolicy = probe.PolicyCluster
		}
	}
	out.HealthCheckNodePort = s.Spec.HealthCheckNodePort
	out.PublishNotReady = s.Spec.PublishNotReadyAddresses
	if s.Spec.InternalTrafficPolicy != nil {
		out.InternalTrafficPolicy = string(*s.Spec.InternalTrafficPolicy)
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		switch {
		case ing.IP != "":
			out.LoadBalancerIngress = append(out.LoadBalancerIngress, ing.IP)
		case ing.Hostname != "":
			out.LoadBalancerIngress = append(out.LoadBalancerIngress, ing.Hostname)
		}
	}
	out.ExternalIPs = slices.Clone(s.Spec.ExternalIPs)
	out.Ports = convertPorts(s.Spec.Ports)
	return out
}

func convertPorts(ports []corev1.ServicePort) []probe.ServicePort {
	var out []probe.ServicePort
	for _, p := range ports {
		proto := probe.Protocol(p.Protocol)
		if proto == "" {
			proto = probe.ProtocolTCP
		}
		tp := p.TargetPort.String()
		if p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			tp = fmt.Sprint(p.Port)
		}
		sp := probe.ServicePort{Name: p.Name, Protocol: proto, Port: p.Port, TargetPort: tp, NodePort: p.NodePort}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		out = append(out, sp)
	}
	return out
}

func convertSlice(sl *discoveryv1.EndpointSlice) []probe.Endpoint {
	if sl.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	ports := map[string]int32{}
	for _, p := range sl.Ports {
		if p.Port == nil {
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		ports[name] = *p.Port
	}
	var out []probe.Endpoint
	for _, ep := range sl.Endpoints {
		ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
		serving := ready
		if ep.Conditions.Serving != nil {
			serving = *ep.Conditions.Serving
		}
		term := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
		pod := ""
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			pod = ep.TargetRef.Name
		}
		node := ""
		if ep.NodeName != nil {
			node = *ep.NodeName
		}
		var zones, forNodes []string
		if h := ep.Hints; h != nil {
			for _, z := range h.ForZones {
				zones = append(zones, z.Name)
			}
			for _, n := range h.ForNodes {
				forNodes = append(forNodes, n.Name)
			}
		}
		for _, addr := range ep.Addresses {
			out = append(out, probe.Endpoint{Address: addr, PodName: pod, NodeName: node, Ready: ready,
				Serving: serving, Terminating: term, Ports: ports, ForZones: zones, ForNodes: forNodes})
		}
	}
	return out
}

func convertNode(n *corev1.Node) probe.Node {
	out := probe.Node{Name: n.Name, Addresses: map[string][]string{}, Unschedulable: n.Spec.Unschedulable,
		Zone: n.Labels[corev1.LabelTopologyZone]}
	for _, a := range n.Status.Addresses {
		out.Addresses[string(a.Type)] = append(out.Addresses[string(a.Type)], a.Address)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.Ready = c.Status == corev1.ConditionTrue
		}
	}
	return out
}

func convertPod(p *corev1.Pod) probe.Pod {
	out := probe.Pod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, NodeName: p.Spec.NodeName,
		PodIP: p.Status.PodIP, Phase: string(p.Status.Phase), Owner: podOwner(p)}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status == corev1.ConditionTrue
			out.ReadyMessage = c.Message
		}
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			proto := probe.Protocol(cp.Protocol)
			if proto == "" {
				proto = probe.ProtocolTCP
			}
			out.Ports = append(out.Ports, probe.ContainerPort{Container: c.Name, Name: cp.Name, Port: cp.ContainerPort, Protocol: proto})
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			out.NotReady = append(out.NotReady, cs.Name)
		}
	}
	return out
}

// podOwner names a pod's controller as Kind/name. A ReplicaSet whose name is
// a Deployment's plus the pod-template-hash is named as that Deployment, so
// the owner outlives rollouts; no extra API call is made.
func podOwner(p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return ""
	}
	if h := p.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && h != "" && strings.HasSuffix(ref.Name, "-"+h) {
		return "Deployment/" + strings.TrimSuffix(ref.Name, "-"+h)
	}
	return ref.Kind + "/" + ref.Name
}

// ReadClusterDNS reads the cluster DNS Service, kube-system/kube-dns, and
// counts its ready endpoints (Ready -1 when its EndpointSlices cannot be
// read). It returns nil and the API's error when the Service cannot be read:
// apierrors.IsNotFound when the cluster has no cluster DNS.
func ReadClusterDNS(ctx context.Context, cs kubernetes.Interface) (*probe.ClusterDNS, error) {
	if err := RetryAPI(ctx, func(ctx context.Context) error {
		_, err := cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	dns := &probe.ClusterDNS{Service: "kube-system/kube-dns", Ready: -1}
	var list *discoveryv1.EndpointSliceList
	if err := RetryAPI(ctx, func(ctx context.Context) (err error) {
		list, err = cs.DiscoveryV1().EndpointSlices("kube-system").List(ctx,
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kube-dns"})
		return err
	}); err != nil {
		return dns, nil
	}
	dns.Ready = 0
	seen := map[string]bool{} // a pod (or address) once, whatever its families and slices
	for i := range list.Items {
		for _, ep := range convertSlice(&list.Items[i]) {
			k := ep.PodName
			if k == "" {
				k = ep.Address
			}
			if ep.Ready && !seen[k] {
				seen[k] = true
				dns.Ready++
			}
		}
	}
	return dns, nil
}

// EventTime is when an event last happened: its last timestamp, its
// event time, or its creation.
func EventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
