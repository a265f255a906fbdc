package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
)

// status is what the ready file says: the simulation's shape and the faults
// in force, with every bad backend's pod named.
type status struct {
	Nodes     int     `json:"nodes"`
	Services  int     `json:"services"`
	NodePorts int     `json:"nodePorts"`
	Faults    *faults `json:"faults"`
	Since     string  `json:"since"`
}

// serve builds the simulated cluster and answers for it until ctx ends;
// SIGHUP reads the faults again.
func serve(ctx context.Context, cs kubernetes.Interface, c *config) error {
	start := time.Now()
	d := newDataplane(c)
	d.mu.Lock()
	d.listen(PodPort, d.pod)
	d.mu.Unlock()
	go d.rebuilds(ctx)
	go heartbeats(ctx, cs, c)
	d.watch(ctx, cs)
	if err := populate(ctx, cs, c); err != nil {
		return err
	}
	if err := d.waitEndpoints(ctx, c); err != nil {
		return err
	}
	log.Printf("simulation ready in %s: %d nodes, %d Services", time.Since(start).Round(time.Millisecond), c.nodes, c.services)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		if err := d.reload(c); err != nil {
			log.Printf("faults: %v", err) // keep the previous ones
		}
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
	}
}

// reload applies the faults file and rewrites the ready file.
func (d *dataplane) reload(c *config) error {
	f, err := loadFaults(c.faults)
	if err != nil {
		return err
	}
	if err := d.apply(c, f); err != nil {
		return err
	}
	v := d.view.Load()
	st := status{Nodes: c.nodes, Services: c.services, NodePorts: len(v.byNodePort), Faults: sortedFaults(f), Since: time.Now().UTC().Format(time.RFC3339)}
	b, _ := json.MarshalIndent(st, "", "  ")
	if c.ready == "" {
		return nil
	}
	tmp := c.ready + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	log.Printf("faults in force: %s", b)
	return os.Rename(tmp, c.ready)
}

// waitEndpoints waits (at most ten minutes) until every Service with pods
// has all its ready endpoints in the dataplane's view and every NodePort a
// listener.
func (d *dataplane) waitEndpoints(ctx context.Context, c *config) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		v := d.view.Load()
		short := 0
		for i := 0; i < c.services; i++ {
			if len(v.backends[serviceName(i)]) < c.podsPerService {
				short++
			}
		}
		d.mu.Lock()
		open := len(d.listeners) - 1
		d.mu.Unlock()
		if short == 0 && open == len(v.byNodePort) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d Services still without their %d ready endpoints after 10 minutes", short, c.podsPerService)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
