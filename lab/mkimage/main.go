// Command mkimage writes a single-layer container image holding one static
// binary, built for this machine's platform, as a docker-archive tarball (the
// format "ctr images import" reads), without a container engine. It is
// internal/ociimage (go-containerregistry) for the lab's small images; the
// agent image is built by cmd/svccheck-image (make image).
//
//	mkimage -binary bin/hostname -tag svccheck.local/hostname:1 -o hostname.tar [-- ARGS...]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/svccheck/svccheck/internal/ociimage"
)

func main() {
	bin := flag.String("binary", "", "static binary to put in the image")
	dest := flag.String("path", "/app", "path of the binary inside the image")
	tag := flag.String("tag", "", "image reference, e.g. svccheck.local/hostname:1")
	out := flag.String("o", "", "output tarball")
	user := flag.String("user", "", "image user (uid[:gid])")
	flag.Parse()
	if *bin == "" || *tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -binary, -tag and -o are required")
		os.Exit(2)
	}
	b := ociimage.Binary{Platform: v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}, File: *bin}
	img, err := ociimage.Image(b, ociimage.Spec{Path: *dest, Args: flag.Args(), User: *user})
	if err == nil {
		err = ociimage.WriteTarball(*out, *tag, img)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
