// Command svccheck-image builds the agent image (or any one-binary image)
// for several platforms without a container engine, and loads or pushes it.
//
//	svccheck-image build -tag REF -binary linux/amd64=PATH [-binary linux/arm64=PATH ...] -o DIR
//	    DIR/oci: an OCI image layout holding the multi-platform index, named REF
//	    DIR/NAME-OS-ARCH.tar: a docker-archive per platform, tagged REF, for
//	    ctr/k3s `images import`, `kind load image-archive`, `minikube image load`
//	svccheck-image tarball -layout DIR/oci -platform linux/arm64 [-tag REF] -o FILE
//	    one platform of a layout as a docker-archive, under another tag if asked
//	svccheck-image push [-insecure] -layout DIR/oci REF
//	    the whole index to a registry (credentials from the docker config file)
//
// `make image` runs build with the agent's defaults: -path
// /ko-app/kubectl-svccheck (the agent pod runs it with args "agent wait"),
// -user 65532:65532, linux/amd64 and linux/arm64.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/svccheck/svccheck/internal/ociimage"
)

const usage = `usage:
  svccheck-image build -tag REF -binary OS/ARCH=PATH [-binary ...] [-path P] [-user U] [-label K=V ...] -o DIR
  svccheck-image tarball -layout DIR [-platform OS/ARCH] [-tag REF] -o FILE
  svccheck-image push [-insecure] -layout DIR REF
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "svccheck-image:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no command")}
	}
	switch args[0] {
	case "build":
		return build(args[1:], out)
	case "tarball":
		return tarballCmd(args[1:], out)
	case "push":
		return push(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func newFlags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	return nil
}

func build(args []string, out io.Writer) error {
	fs := newFlags("build")
	var binaries, labels multi
	tag := fs.String("tag", "", "image reference, e.g. ghcr.io/svccheck/svccheck:1.2.3")
	fs.Var(&binaries, "binary", "OS/ARCH[/VARIANT]=PATH of a static binary (repeat per platform)")
	inImage := fs.String("path", "/ko-app/kubectl-svccheck", "path of the binary inside the image (the entrypoint)")
	user := fs.String("user", "65532:65532", "image user, uid[:gid] (\"\" for root)")
	fs.Var(&labels, "label", "K=V config label (repeatable)")
	dir := fs.String("o", "", "output directory")
	created := fs.Int64("created", epochFromEnv(), "creation time, Unix seconds (default SOURCE_DATE_EPOCH, else 0)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tag == "" || *dir == "" || len(binaries) == 0 || fs.NArg() > 0 {
		return usageError{errors.New("build needs -tag, -o and at least one -binary, and no arguments")}
	}
	if _, err := name.NewTag(*tag); err != nil {
		return usageError{fmt.Errorf("-tag %q: %w", *tag, err)}
	}
	spec := ociimage.Spec{Path: *inImage, User: *user, Created: time.Unix(*created, 0), Labels: map[string]string{}}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usageError{fmt.Errorf("-label %q: want K=V", l)}
		}
		spec.Labels[k] = v
	}
	var bins []ociimage.Binary
	for _, b := range binaries {
		p, file, ok := strings.Cut(b, "=")
		if !ok || file == "" {
			return usageError{fmt.Errorf("-binary %q: want OS/ARCH=PATH", b)}
		}
		plat, err := ociimage.ParsePlatform(p)
		if err != nil {
			return usageError{err}
		}
		bins = append(bins, ociimage.Binary{Platform: plat, File: file})
	}
	idx, err := ociimage.Index(bins, spec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	layoutDir := filepath.Join(*dir, "oci")
	if err := ociimage.WriteLayout(layoutDir, *tag, idx); err != nil {
		return fmt.Errorf("write OCI layout %s: %w", layoutDir, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s: OCI layout %s\n", *tag, d, layoutDir)
	for _, b := range bins {
		img, err := ociimage.PlatformImage(idx, b.Platform)
		if err != nil {
			return err
		}
		file := filepath.Join(*dir, tarballName(*tag, b.Platform))
		if err := ociimage.WriteTarball(file, *tag, img); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		if err := describe(out, b.Platform, img, file); err != nil {
			return err
		}
	}
	return nil
}

// tarballName is NAME-OS-ARCH[-VARIANT].tar, NAME the repository's last
// path element.
func tarballName(tag string, p v1.Platform) string {
	repo := tag
	if t, err := name.NewTag(tag); err == nil {
		repo = t.Context().RepositoryStr()
	}
	base := repo[strings.LastIndex(repo, "/")+1:]
	return base + "-" + strings.ReplaceAll(ociimage.PlatformString(p), "/", "-") + ".tar"
}

func describe(out io.Writer, p v1.Platform, img v1.Image, file string) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return err
		}
		size += n
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %-13s %s  layer %.1f MB compressed  %s (%.1f MB)\n", ociimage.PlatformString(p), d, float64(size)/1e6, file, float64(fi.Size())/1e6)
	return nil
}

func epochFromEnv() int64 {
	var t int64
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		_, _ = fmt.Sscan(s, &t)
	}
	return t
}

func tarballCmd(args []string, out io.Writer) error {
	fs := newFlags("tarball")
	dir := fs.String("layout", "", "OCI layout written by build (DIR/oci)")
	platform := fs.String("platform", "linux/amd64", "platform to write")
	tag := fs.String("tag", "", "tag in the tarball (default: the layout's)")
	file := fs.String("o", "", "output tarball")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *file == "" || fs.NArg() > 0 {
		return usageError{errors.New("tarball needs -layout and -o")}
	}
	p, err := ociimage.ParsePlatform(*platform)
	if err != nil {
		return usageError{err}
	}
	idx, layoutTag, err := ociimage.ReadLayout(*dir)
	if err != nil {
		return err
	}
	if *tag == "" {
		*tag = layoutTag
	}
	img, err := ociimage.PlatformImage(idx, p)
	if err != nil {
		return err
	}
	if err := ociimage.WriteTarball(*file, *tag, img); err != nil {
		return err
	}
	return describe(out, p, img, *file)
}

func push(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("push")
	dir := fs.String("layout", "", "OCI layout written by build (DIR/oci)")
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry (and unverified TLS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 1 {
		return usageError{errors.New("push needs -layout and one REF")}
	}
	idx, _, err := ociimage.ReadLayout(*dir)
	if err != nil {
		return err
	}
	ref, err := ociimage.Push(ctx, fs.Arg(0), idx, ociimage.PushOptions{Insecure: *insecure})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "pushed %s\n", ref)
	return nil
}
