// Command svccheck-sim adds simulated nodes to the lab's cluster, and is
// their dataplane. lab/sim.sh runs it; see there for the network it lives in.
//
//	svccheck-sim serve -kubeconfig K -nodes N ...   create the objects, keep the nodes
//	                                                Ready, answer their NodePorts; until SIGTERM
//	svccheck-sim down -kubeconfig K                 delete every object the simulation made
//
// The API objects are real: Nodes (label svccheck.dev/sim=true, taint
// svccheck.dev/sim=true:NoSchedule so that nothing else lands on them) with
// an InternalIP each, their Leases in kube-node-lease renewed like a
// kubelet's so the node lifecycle controller keeps them Ready, Services in
// namespace "sim" and, for the Services with a selector, Pods bound to the
// simulated nodes with an IP and Ready status, from which the cluster's own
// EndpointSlice controller builds the slices. With -manual-slices the
// ClusterIP Services have no selector and the simulation writes their
// EndpointSlices itself (a cluster of ten thousand Services without fifty
// thousand Pods), and they name another proxy (service-proxy-name) so that
// the real nodes' kube-proxy does not program them: they are discovered and
// planned, not probed.
//
// The dataplane owns every simulated node address and every simulated pod
// address in the simulation's network namespace and answers as kube-proxy
// and the lab's hostname server would: a connection to a node's NodePort is
// given a backend chosen at random among the Service's ready endpoints (read
// from the EndpointSlices), and the HTTP answer names that pod; a connection
// to a pod's address on 8080 names that pod. Faults (a node refusing, a node
// dropping, a node firewalled from the operator only, a Service broken on
// every node, a backend unreachable through one node) come from a JSON file
// read at start and again on SIGHUP.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Labels and names the simulation owns.
const (
	LabelSim  = "svccheck.dev/sim"
	Namespace = "sim"
	PodPort   = 8080
	// ServiceProxyNameLabel hands a Service to another proxy than
	// kube-proxy, which then ignores it.
	ServiceProxyNameLabel = "service.kubernetes.io/service-proxy-name"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: svccheck-sim serve|down [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var cfg config
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the lab's admin")
	cfg.flags(fs)
	_ = fs.Parse(args)
	cs, err := client(*kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch cmd {
	case "serve":
		err = serve(ctx, cs, &cfg)
	case "down":
		err = down(ctx, cs)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func client(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 300, 600
	return kubernetes.NewForConfig(rc)
}
