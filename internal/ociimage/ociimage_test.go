package ociimage

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func binary(t *testing.T, platform, content string) Binary {
	t.Helper()
	p, err := ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(f, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return Binary{Platform: p, File: f}
}

type entry struct {
	mode int64
	dir  bool
	data string
}

func files(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimSuffix(h.Name, "/")] = entry{mode: h.Mode, dir: h.Typeflag == tar.TypeDir, data: string(b)}
	}
}

func TestImageLayout(t *testing.T) {
	img, err := Image(binary(t, "linux/arm64/v8", "BIN"), Spec{Path: "/ko-app/kubectl-svccheck", User: "65532:65532"})
	if err != nil {
		t.Fatal(err)
	}
	fs := files(t, img)
	for name, want := range map[string]entry{
		"ko-app":                  {mode: 0o755, dir: true},
		"ko-app/kubectl-svccheck": {mode: 0o755, data: "BIN"},
		"tmp":                     {mode: 0o1777, dir: true},
		"etc":                     {mode: 0o755, dir: true},
	} {
		if got, ok := fs[name]; !ok || got != want {
			t.Errorf("%s = %+v (present %v), want %+v", name, got, ok, want)
		}
	}
	if !strings.Contains(fs["etc/passwd"].data, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q", fs["etc/passwd"].data)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || cf.Variant != "v8" || cf.Config.User != "65532:65532" ||
		strings.Join(cf.Config.Entrypoint, " ") != "/ko-app/kubectl-svccheck" || len(cf.Config.Cmd) != 0 || cf.Created.Unix() != 0 {
		t.Errorf("config %+v", cf)
	}
	if _, err := Image(binary(t, "linux/amd64", "x"), Spec{Path: "relative"}); err == nil {
		t.Error("a relative path in the image was accepted")
	}
}

func TestLayoutRoundTripAndPlatforms(t *testing.T) {
	idx, err := Index([]Binary{binary(t, "linux/amd64", "A"), binary(t, "linux/arm64", "B")}, Spec{Path: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, "svccheck.local/svccheck:lab", idx); err != nil {
		t.Fatal(err)
	}
	back, tag, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tag != "svccheck.local/svccheck:lab" {
		t.Errorf("tag %q", tag)
	}
	if a, b := digest(t, idx), digest(t, back); a != b {
		t.Errorf("layout index %s, built %s", b, a)
	}
	arm, err := PlatformImage(back, v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, arm)["app"].data; got != "B" {
		t.Errorf("arm64 image holds %q", got)
	}
	if _, err := PlatformImage(back, v1.Platform{OS: "linux", Architecture: "s390x"}); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("missing platform: %v", err)
	}
	if _, err := Index([]Binary{binary(t, "linux/amd64", "A"), binary(t, "linux/amd64", "B")}, Spec{Path: "/app"}); err == nil {
		t.Error("one platform twice was accepted")
	}
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPushInsecure pushes to an in-process plain-HTTP registry reached as
// registry.test:5000 (go-containerregistry assumes HTTP for loopback
// addresses by itself): HTTPS fails, and Insecure reaches it.
func TestPushInsecure(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.Listener.Addr().String())
	}
	idx, err := Index([]Binary{binary(t, "linux/amd64", "A"), binary(t, "linux/arm64", "B")}, Spec{Path: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	ref := "registry.test:5000/mirror/svccheck:1"
	opts := PushOptions{Transport: tr, Keychain: authn.NewMultiKeychain()}
	if _, err := Push(context.Background(), ref, idx, opts); err == nil {
		t.Fatal("push over HTTPS to a plain-HTTP registry succeeded")
	}
	opts.Insecure = true
	got, err := Push(context.Background(), ref, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "registry.test:5000/mirror/svccheck@" + digest(t, idx).String(); got != want {
		t.Errorf("pushed %s, want %s", got, want)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	pulled, err := remote.Index(r, remote.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, pulled) != digest(t, idx) {
		t.Error("the registry holds another index")
	}
}
