// Command hostname is the lab's hostname server: it answers every HTTP request
// with the pod's name (its hostname), like the classic walkthrough's server.
// With -tcp it is a plain TCP server that never says its name.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	ports := flag.String("ports", "80", "comma-separated ports to listen on")
	tcp := flag.Bool("tcp", false, "accept TCP connections and write a fixed greeting, never the pod name")
	flag.Parse()
	name, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range strings.Split(*ports, ",") {
		l, err := net.Listen("tcp", ":"+p)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("%s listening on :%s", name, p)
		if *tcp {
			go serveTCP(l)
			continue
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, name)
		})}
		go func() { log.Fatal(srv.Serve(l)) }()
	}
	select {}
}

func serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		_, _ = c.Write([]byte("hello\n"))
		_ = c.Close()
	}
}
