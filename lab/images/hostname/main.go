// Command hostname is the lab's hostname server: it answers every HTTP request
// with the pod's name (its hostname), like the classic walkthrough's server.
// With -tcp it is a plain TCP server that never says its name; -udp PORTS also
// echoes every UDP datagram back with the pod's name.
//
// Faults, for the diagnosis scenarios: -hang accepts connections and never
// answers; -status N answers with HTTP status N (the page still names the
// pod); -bind ADDR listens on ADDR only (127.0.0.1: nothing answers on the
// pod's IP). With -only HOSTS the faults apply only on the pods of that
// comma-separated list of names (a StatefulSet's web-1), and every other pod
// serves normally.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// fault is how this pod misbehaves.
type fault struct {
	hang   bool
	status int
	bind   string
}

func main() {
	ports := flag.String("ports", "80", "comma-separated ports to listen on")
	tcp := flag.Bool("tcp", false, "accept TCP connections and write a fixed greeting, never the pod name")
	udp := flag.String("udp", "", "comma-separated UDP ports to echo on: each datagram is answered with the pod name")
	var f fault
	flag.BoolVar(&f.hang, "hang", false, "accept connections and never answer")
	flag.IntVar(&f.status, "status", http.StatusOK, "HTTP status to answer with")
	flag.StringVar(&f.bind, "bind", "", "address to listen on (default: every address)")
	only := flag.String("only", "", "comma-separated pod names the faults apply to (default: every pod)")
	flag.Parse()
	name, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	if *only != "" && !slices.Contains(strings.Split(*only, ","), name) {
		f = fault{status: http.StatusOK}
	}
	for _, p := range strings.Split(*ports, ",") {
		l, err := net.Listen("tcp", net.JoinHostPort(f.bind, p))
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("%s listening on %s (hang=%v status=%d)", name, l.Addr(), f.hang, f.status)
		if *tcp {
			go serveTCP(l, f.hang)
			continue
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: handler(name, f)}
		go func() { log.Fatal(srv.Serve(l)) }()
	}
	for _, p := range strings.Split(*udp, ",") {
		if p == "" {
			continue
		}
		c, err := net.ListenPacket("udp", net.JoinHostPort(f.bind, p))
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("%s echoing on udp %s", name, c.LocalAddr())
		go serveUDP(c, name)
	}
	select {}
}

// handler answers with the pod's name and the fault's status, or, hung,
// holds every request until the client gives up.
func handler(name string, f fault) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.hang {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(f.status)
		fmt.Fprintln(w, name)
	}
}

func serveUDP(c net.PacketConn, name string) {
	buf := make([]byte, 2048)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = c.WriteTo([]byte(name+"\n"), from)
	}
}

// serveTCP greets every connection and closes it; hung, it holds every
// connection open without a word until the client gives up.
func serveTCP(l net.Listener, hang bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		if hang {
			go func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
			continue
		}
		_, _ = c.Write([]byte("hello\n"))
		_ = c.Close()
	}
}
