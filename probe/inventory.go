// Package probe holds svccheck's domain: the inventory of Services, nodes and
// endpoints it was given, the plan of probes derived from it, the probers that
// execute probes, and the runner that executes a plan concurrently. It never
// talks to the Kubernetes API; the plugin package builds the Inventory.
package probe

import (
	"strconv"
	"time"
)

// Inventory is everything discovered in the cluster that the plan is built from.
// Slices are sorted by the discoverer (namespace, then name) so plans are stable.
type Inventory struct {
	Services []Service `json:"services"`
	Nodes    []Node    `json:"nodes"`
	// Pods are the pods in scope, used to explain empty Services (a selector
	// that matches nothing, pods that exist but are not ready).
	Pods []Pod `json:"pods,omitempty"`
	// EndpointSlices is the number of EndpointSlices the Services were built from.
	EndpointSlices int `json:"endpointSlices"`
	// ClusterDNS is the cluster DNS Service as the run found it, when it
	// was read (runs with in-cluster vantage points).
	ClusterDNS *ClusterDNS `json:"clusterDNS,omitempty"`
}

// ClusterDNS is the Service pods resolve names through (kube-system/kube-dns).
type ClusterDNS struct {
	Service string `json:"service"`
	// Ready counts its ready endpoints; -1 when they could not be read.
	Ready int `json:"ready"`
}

// Service types as in the Kubernetes API.
const (
	TypeClusterIP    = "ClusterIP"
	TypeNodePort     = "NodePort"
	TypeLoadBalancer = "LoadBalancer"
	TypeExternalName = "ExternalName"
)

// Traffic policies as in the Kubernetes API.
const (
	PolicyCluster = "Cluster"
	PolicyLocal   = "Local"
)

// Service is one Kubernetes Service with its endpoints already resolved from
// its EndpointSlices.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	// ClusterIPs holds every cluster IP (dual-stack Services have two); empty
	// for headless and ExternalName Services.
	ClusterIPs   []string `json:"clusterIPs,omitempty"`
	Headless     bool     `json:"headless,omitempty"`
	ExternalName string   `json:"externalName,omitempty"`
	// LoadBalancerIngress lists status.loadBalancer.ingress as IPs or hostnames.
	LoadBalancerIngress []string `json:"loadBalancerIngress,omitempty"`
	// ExternalIPs is spec.externalIPs: addresses the cluster's network
	// routes to some node, where kube-proxy forwards them like the ClusterIP.
	ExternalIPs           []string          `json:"externalIPs,omitempty"`
	ExternalTrafficPolicy string            `json:"externalTrafficPolicy,omitempty"`
	InternalTrafficPolicy string            `json:"internalTrafficPolicy,omitempty"`
	SessionAffinity       string            `json:"sessionAffinity,omitempty"`
	HealthCheckNodePort   int32             `json:"healthCheckNodePort,omitempty"`
	PublishNotReady       bool              `json:"publishNotReadyAddresses,omitempty"`
	Selector              map[string]string `json:"selector,omitempty"`
	Ports                 []ServicePort     `json:"ports"`
	Endpoints             []Endpoint        `json:"endpoints,omitempty"`
	// LastChange is the newest change the cluster recorded for the Service:
	// its creation, its EndpointSlices' last-change-trigger-time, its
	// endpoint pods' Ready transitions; zero when unknown.
	LastChange time.Time `json:"lastChange,omitzero"`
}

// ServiceKey returns the key of the Service name in namespace,
// "namespace/name": what identifies a Service across inventories, plans,
// findings and reports.
func ServiceKey(namespace, name string) string { return namespace + "/" + name }

// Key returns the Service's key, "namespace/name" (ServiceKey).
func (s *Service) Key() string { return ServiceKey(s.Namespace, s.Name) }

// Protocol is a port's protocol as Kubernetes names it. Discovery fills an
// empty protocol in as TCP, Kubernetes' default.
type Protocol string

// The port protocols Kubernetes knows.
const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
)

// ServicePort is one port of a Service.
type ServicePort struct {
	Name        string   `json:"name,omitempty"`
	Protocol    Protocol `json:"protocol"`
	Port        int32    `json:"port"`
	TargetPort  string   `json:"targetPort,omitempty"` // as declared: a number or a container port name
	NodePort    int32    `json:"nodePort,omitempty"`
	AppProtocol string   `json:"appProtocol,omitempty"`
}

// Label returns the port's name, or its number when unnamed.
func (p ServicePort) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

// Endpoint is one address of one EndpointSlice, with the target port resolved
// per Service port name (EndpointSlice ports already carry resolved numbers,
// including for named targetPorts).
type Endpoint struct {
	Address     string `json:"address"`
	PodName     string `json:"pod,omitempty"`
	NodeName    string `json:"node,omitempty"`
	Ready       bool   `json:"ready"`
	Serving     bool   `json:"serving"`
	Terminating bool   `json:"terminating,omitempty"`
	// Ports maps a Service port name ("" for the unnamed port) to the target
	// port number on this endpoint.
	Ports map[string]int32 `json:"ports"`
	// ForZones and ForNodes are the EndpointSlice's topology hints: the
	// zones and nodes whose kube-proxy should prefer this endpoint
	// (trafficDistribution PreferClose/PreferSameZone, PreferSameNode, or
	// topology-aware routing).
	ForZones []string `json:"forZones,omitempty"`
	ForNodes []string `json:"forNodes,omitempty"`
}

// Node is one cluster node.
type Node struct {
	Name string `json:"name"`
	// Addresses maps an address type (InternalIP, ExternalIP, Hostname) to
	// the node's addresses of that type, in API order.
	Addresses     map[string][]string `json:"addresses"`
	Ready         bool                `json:"ready"`
	Unschedulable bool                `json:"unschedulable,omitempty"`
	// Zone is the node's topology.kubernetes.io/zone label.
	Zone string `json:"zone,omitempty"`
}

// Pod is the part of a pod svccheck reasons about.
type Pod struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	NodeName  string            `json:"node,omitempty"`
	PodIP     string            `json:"podIP,omitempty"`
	Phase     string            `json:"phase,omitempty"`
	// Owner is the pod's controller as Kind/name, with a ReplicaSet made by
	// a Deployment named as the Deployment ("Deployment/web"); "" when none.
	Owner string `json:"owner,omitempty"`
	Ready bool   `json:"ready"`
	// Ports are the container ports the pod declares.
	Ports []ContainerPort `json:"ports,omitempty"`
	// NotReady names the containers that are not ready; ReadyMessage is the
	// Ready condition's message and ProbeMessage the last failed probe event.
	NotReady     []string `json:"notReady,omitempty"`
	ReadyMessage string   `json:"readyMessage,omitempty"`
	ProbeMessage string   `json:"probeMessage,omitempty"`
}

// ContainerPort is one port a container declares.
type ContainerPort struct {
	Container string   `json:"container"`
	Name      string   `json:"name,omitempty"`
	Port      int32    `json:"port"`
	Protocol  Protocol `json:"protocol"`
}
