package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/svccheck/svccheck/probe"
	"github.com/svccheck/svccheck/probe/prober"
)

// Serve is the agent's main loop: it reads one Request from in, runs its
// probes and writes each Result to out as a JSON line as it completes.
// Problems that do not stop the run (no conntrack) are said on errOut.
// A malformed request is an error before anything runs.
func Serve(ctx context.Context, in io.Reader, out, errOut io.Writer) error {
	req, err := ReadRequest(in)
	if err != nil {
		return err
	}
	sockets := &prober.Sockets{Timeout: req.Timeout}
	if req.Conntrack {
		if tr, err := prober.NewConntrack(); err == nil {
			sockets.Tracer = tr
			defer tr.Close()
		} else {
			fmt.Fprintln(errOut, "svccheck agent: no conntrack attribution:", err)
		}
	}
	probers := map[probe.From]probe.Prober{}
	for _, p := range req.Probes {
		probers[p.From] = sockets
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	var werr error
	beat := func() {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			_, werr = io.WriteString(out, "\n")
		}
	}
	beat()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				beat()
			}
		}
	}()
	probe.RunTries(ctx, req.Probes, probers, req.Concurrency, max(req.Tries, 1),
		func(_ int, r probe.Result) {
			mu.Lock()
			defer mu.Unlock()
			if werr == nil {
				werr = enc.Encode(r)
			}
		})
	mu.Lock()
	defer mu.Unlock()
	return werr
}

// Heartbeat is how often an agent writes an empty line while it runs (and
// once when it starts), so the plugin can tell a silent agent from a stuck
// stream. Readers skip empty lines.
const Heartbeat = 2 * time.Second
