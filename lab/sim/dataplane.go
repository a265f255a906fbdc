package main

import (
	"bytes"
	"context"
	"log"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// backend is one ready endpoint.
type backend struct{ ip, pod string }

// view is the dataplane's picture of the cluster, replaced whole on every
// change and read without locks.
type view struct {
	byNodePort map[int32]string     // NodePort -> Service
	backends   map[string][]backend // Service -> ready endpoints
	podByIP    map[string]string    // pod address -> pod
}

// dataplane answers for the simulated nodes and pods.
type dataplane struct {
	nodeByIP map[string]string // node address -> node
	view     atomic.Pointer[view]
	faults   atomic.Pointer[faults]

	mu        sync.Mutex
	dirty     bool // services or slices changed since the last view
	listeners map[int32]net.Listener
	slices    map[string]*discoveryv1.EndpointSlice
	services  map[string]*corev1.Service
}

func newDataplane(c *config) *dataplane {
	d := &dataplane{nodeByIP: map[string]string{}, listeners: map[int32]net.Listener{},
		slices: map[string]*discoveryv1.EndpointSlice{}, services: map[string]*corev1.Service{}}
	for i := 0; i < c.nodes; i++ {
		d.nodeByIP[c.nodeAddr(i)] = nodeName(i)
	}
	d.view.Store(&view{})
	d.faults.Store(&faults{})
	return d
}

// watch follows the namespace's Services and EndpointSlices until ctx ends;
// it returns once the caches are synced.
func (d *dataplane) watch(ctx context.Context, cs kubernetes.Interface) {
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(Namespace))
	si, ei := f.Core().V1().Services().Informer(), f.Discovery().V1().EndpointSlices().Informer()
	on := func(store func(obj any, del bool)) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { store(o, false) },
			UpdateFunc: func(_, o any) { store(o, false) },
			DeleteFunc: func(o any) {
				if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				store(o, true)
			},
		}
	}
	_, _ = si.AddEventHandler(on(func(o any, del bool) { d.setService(o.(*corev1.Service), del) }))
	_, _ = ei.AddEventHandler(on(func(o any, del bool) { d.setSlice(o.(*discoveryv1.EndpointSlice), del) }))
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
}

func (d *dataplane) setService(s *corev1.Service, del bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if del {
		delete(d.services, s.Name)
	} else {
		d.services[s.Name] = s
	}
	d.dirty = true
}

func (d *dataplane) setSlice(s *discoveryv1.EndpointSlice, del bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if del {
		delete(d.slices, s.Name)
	} else {
		d.slices[s.Name] = s
	}
	d.dirty = true
}

// rebuilds makes a new view at most five times a second while things
// change (ten thousand slices arriving are not ten thousand rebuilds).
func (d *dataplane) rebuilds(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		if d.dirty {
			d.dirty = false
			d.rebuild()
		}
		d.mu.Unlock()
	}
}

// rebuild makes a new view and opens or closes NodePort listeners; d.mu held.
func (d *dataplane) rebuild() {
	v := &view{byNodePort: map[int32]string{}, backends: map[string][]backend{}, podByIP: map[string]string{}}
	for _, s := range d.services {
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				v.byNodePort[p.NodePort] = s.Name
			}
		}
	}
	for _, sl := range d.slices {
		svc := sl.Labels[discoveryv1.LabelServiceName]
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) == 0 || ep.TargetRef == nil || ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				continue
			}
			v.backends[svc] = append(v.backends[svc], backend{ip: ep.Addresses[0], pod: ep.TargetRef.Name})
			v.podByIP[ep.Addresses[0]] = ep.TargetRef.Name
		}
	}
	d.view.Store(v)
	for port := range v.byNodePort {
		if _, ok := d.listeners[port]; !ok {
			d.listen(port, d.nodePort)
		}
	}
	for port, l := range d.listeners {
		if _, ok := v.byNodePort[port]; !ok && port != PodPort {
			_ = l.Close()
			delete(d.listeners, port)
		}
	}
}

// listen serves port on every address of the namespace with handle; d.mu held.
func (d *dataplane) listen(port int32, handle func(net.Conn, *view)) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		log.Printf("listen on %d: %v", port, err)
		return
	}
	d.listeners[port] = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c, d.view.Load())
		}
	}()
}

// nodePort answers a connection to a node's NodePort as kube-proxy would:
// a backend at random among the Service's ready endpoints, which names
// itself; no endpoint, or the backend a fault makes unreachable through
// this node, and the connection is reset.
func (d *dataplane) nodePort(c net.Conn, v *view) {
	local := c.LocalAddr().(*net.TCPAddr)
	svc := v.byNodePort[int32(local.Port)]
	bs := v.backends[svc]
	if len(bs) == 0 {
		reset(c)
		return
	}
	b := bs[rand.IntN(len(bs))]
	if d.faults.Load().unreachable(d.nodeByIP[local.IP.String()], svc, b.pod) {
		reset(c)
		return
	}
	answer(c, b.pod)
}

// pod answers a connection to a pod's address with its name.
func (d *dataplane) pod(c net.Conn, v *view) {
	name, ok := v.podByIP[c.LocalAddr().(*net.TCPAddr).IP.String()]
	if !ok {
		reset(c)
		return
	}
	answer(c, name)
}

// answer reads the request's head and answers like the hostname server.
func answer(c net.Conn, pod string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for len(buf) < 8192 && !bytes.Contains(buf, []byte("\r\n\r\n")) {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	body := pod + "\n"
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nConnection: close\r\n\r\n" + body))
}

// reset closes c with a RST.
func reset(c net.Conn) {
	if t, ok := c.(*net.TCPConn); ok {
		_ = t.SetLinger(0)
	}
	_ = c.Close()
}
