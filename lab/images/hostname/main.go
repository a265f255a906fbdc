// Command hostname is the lab's hostname server: it answers every HTTP request
// with the pod's name (its hostname), like the classic walkthrough's server.
// With -tcp it is a plain TCP server that never says its name; -udp PORTS also
// echoes every UDP datagram back with the pod's name.
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
	udp := flag.String("udp", "", "comma-separated UDP ports to echo on: each datagram is answered with the pod name")
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
	for _, p := range strings.Split(*udp, ",") {
		if p == "" {
			continue
		}
		c, err := net.ListenPacket("udp", ":"+p)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("%s echoing on udp :%s", name, p)
		go serveUDP(c, name)
	}
	select {}
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
