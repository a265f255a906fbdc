package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/svccheck/svccheck/internal/ociimage"
)

// fakeBinaries writes one stand-in "binary" per platform, each with its
// platform in its contents, and returns the -binary flags.
func fakeBinaries(t *testing.T, platforms ...string) []string {
	t.Helper()
	var flags []string
	for _, p := range platforms {
		f := filepath.Join(t.TempDir(), "kubectl-svccheck")
		if err := os.WriteFile(f, []byte("#!binary for "+p), 0o755); err != nil {
			t.Fatal(err)
		}
		flags = append(flags, "-binary", p+"="+f)
	}
	return flags
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("svccheck-image %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

func TestBuildTarballPush(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"build", "-tag", "svccheck.local/svccheck:test", "-o", dir}, fakeBinaries(t, "linux/amd64", "linux/arm64")...)
	out := mustRun(t, args...)
	for _, want := range []string{"OCI layout " + filepath.Join(dir, "oci"), "linux/amd64", "linux/arm64", "svccheck-linux-arm64.tar"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}

	// Each platform's docker-archive holds that platform's binary under the tag.
	for _, arch := range []string{"amd64", "arm64"} {
		file := filepath.Join(dir, "svccheck-linux-"+arch+".tar")
		tag, _ := name.NewTag("svccheck.local/svccheck:test")
		img, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != arch || cf.OS != "linux" || cf.Config.User != "65532:65532" ||
			strings.Join(cf.Config.Entrypoint, " ") != "/ko-app/kubectl-svccheck" {
			t.Errorf("%s config: %s/%s user %q entrypoint %q", file, cf.OS, cf.Architecture, cf.Config.User, cf.Config.Entrypoint)
		}
		if got := fileIn(t, img, "ko-app/kubectl-svccheck"); got != "#!binary for linux/"+arch {
			t.Errorf("%s: binary %q", file, got)
		}
	}

	// tarball re-tags one platform of the layout.
	retag := filepath.Join(t.TempDir(), "mirror.tar")
	mustRun(t, "tarball", "-layout", filepath.Join(dir, "oci"), "-platform", "linux/arm64", "-tag", "mirror.example/svccheck:1", "-o", retag)
	mtag, _ := name.NewTag("mirror.example/svccheck:1")
	if _, err := tarball.ImageFromPath(retag, &mtag); err != nil {
		t.Errorf("re-tagged tarball: %v", err)
	}

	// push uploads the whole index to a plain-HTTP registry.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ref := host + "/mirror/svccheck:1.2.3"
	out = mustRun(t, "push", "-insecure", "-layout", filepath.Join(dir, "oci"), ref)
	idx, _, err := ociimage.ReadLayout(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if !strings.Contains(out, "@"+want.String()) {
		t.Errorf("push output %q does not name the index digest %s", out, want)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pull back %s: %v", ref, err)
	}
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("registry has %s, layout %s", got, want)
	}
	m, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, d := range m.Manifests {
		plats = append(plats, ociimage.PlatformString(*d.Platform))
		img, err := pulled.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileIn(t, img, "ko-app/kubectl-svccheck"); got != "#!binary for "+ociimage.PlatformString(*d.Platform) {
			t.Errorf("pulled %s holds %q", ociimage.PlatformString(*d.Platform), got)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("pushed platforms %v", plats)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	bins := fakeBinaries(t, "linux/amd64", "linux/arm64")
	digest := func() v1.Hash {
		dir := t.TempDir()
		mustRun(t, append([]string{"build", "-tag", "svccheck.local/svccheck:test", "-o", dir}, bins...)...)
		idx, _, err := ociimage.ReadLayout(filepath.Join(dir, "oci"))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		return d
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("the same binaries made %s and %s", a, b)
	}
}

func TestUsageErrors(t *testing.T) {
	bin := fakeBinaries(t, "linux/amd64")
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"build", "-o", t.TempDir()},
		{"build", "-tag", "x:1", "-o", t.TempDir(), "-binary", "linux=/bin/true"},
		{"build", "-tag", "x:1", "-o", t.TempDir(), "-binary", "linux/amd64"},
		append([]string{"build", "-tag", "UPPER/case:1", "-o", t.TempDir()}, bin...),
		{"push", "-layout", "x"},
		{"tarball", "-o", "x.tar"},
	} {
		err := run(context.Background(), args, io.Discard)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// fileIn returns the contents of file in img's filesystem.
func fileIn(t *testing.T, img v1.Image, file string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the image: %v", file, err)
		}
		if h.Name == file {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
