// Package ociimage builds container images that hold one static binary, for
// one or several platforms, without a container engine: an OCI image index
// over one single-layer image per platform, written as an OCI image layout,
// as a docker-archive tarball per platform (what `ctr images import`,
// `kind load image-archive`, `minikube image load` and `docker load` read),
// or pushed to a registry. The heavy lifting (digests, layouts, tarballs,
// the registry protocol) is go-containerregistry's.
package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Binary is a static executable built for one platform.
type Binary struct {
	Platform v1.Platform
	// File is where the executable is on this machine.
	File string
}

// Spec says what goes into the image besides the binaries.
type Spec struct {
	// Path is where the binary is inside the image, and the entrypoint.
	Path string
	// Args follow Path in the entrypoint.
	Args []string
	// User is the image's user, "uid[:gid]"; "" is root.
	User string
	// Created is the images' creation time; the zero time is the Unix
	// epoch, so that the same binaries always make the same digests.
	Created time.Time
	// Labels go into every image's config.
	Labels map[string]string
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// PlatformString is "os/arch[/variant]".
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Image is the single-layer OCI image of one binary: the binary at
// spec.Path (mode 0755), /etc/passwd and /etc/group naming root and nonroot
// (65532), and a world-writable /tmp.
func Image(b Binary, spec Spec) (v1.Image, error) {
	if !path.IsAbs(spec.Path) || path.Clean(spec.Path) == "/" {
		return nil, fmt.Errorf("path in the image %q: want an absolute file path", spec.Path)
	}
	data, err := os.ReadFile(b.File)
	if err != nil {
		return nil, err
	}
	created := spec.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	layerTar, err := layerBytes(path.Clean(spec.Path), data, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = b.Platform.OS, b.Platform.Architecture, b.Platform.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config.Entrypoint = append([]string{path.Clean(spec.Path)}, spec.Args...)
	cf.Config.Cmd = nil
	cf.Config.User = spec.User
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=" + path.Dir(path.Clean(spec.Path)) + ":/usr/local/bin:/usr/bin:/bin"}
	cf.Config.Labels = spec.Labels
	return mutate.ConfigFile(img, cf)
}

// layerBytes is the layer's tarball, every entry dated created.
func layerBytes(binPath string, bin []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{binPath[1:], 0o755, bin},
	}
	dirs := map[string]int64{"etc/": 0o755, "tmp/": 0o1777}
	for d := path.Dir(binPath); d != "/"; d = path.Dir(d) {
		dirs[d[1:]+"/"] = 0o755
	}
	// Directories before files, parents before children.
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: dirs[d], ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data)), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Index is the OCI image index over one image per binary, in order.
func Index(bins []Binary, spec Spec) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("no binaries")
	}
	var adds []mutate.IndexAddendum
	seen := map[string]bool{}
	for _, b := range bins {
		ps := PlatformString(b.Platform)
		if seen[ps] {
			return nil, fmt.Errorf("platform %s given twice", ps)
		}
		seen[ps] = true
		img, err := Image(b, spec)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", ps, err)
		}
		p := b.Platform
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// WriteLayout writes idx as a fresh OCI image layout in dir (anything there
// before is removed), its index.json naming it tag.
func WriteLayout(dir, tag string, idx v1.ImageIndex) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag}))
}

// ReadLayout returns the image index of an OCI layout WriteLayout wrote, and
// the tag it was written with.
func ReadLayout(dir string) (v1.ImageIndex, string, error) {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, "", fmt.Errorf("%s: want one image index in index.json, found %d entries", dir, len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return nil, "", err
	}
	return idx, m.Manifests[0].Annotations[RefNameAnnotation], nil
}

// PlatformImage is idx's image for platform.
func PlatformImage(idx v1.ImageIndex, platform v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == platform.OS && d.Platform.Architecture == platform.Architecture && d.Platform.Variant == platform.Variant {
			return idx.Image(d.Digest)
		}
		have = append(have, PlatformString(*d.Platform))
	}
	return nil, fmt.Errorf("no image for %s (the index has %s)", PlatformString(platform), strings.Join(have, ", "))
}

// WriteTarball writes img as a docker-archive tarball tagged tag: the format
// `ctr images import`, `kind load image-archive`, `minikube image load`,
// `k3s ctr images import` and `docker load` read.
func WriteTarball(file, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}

// PushOptions say how to reach the registry.
type PushOptions struct {
	// Insecure allows plain HTTP (and unverified TLS) to the registry.
	Insecure bool
	// Keychain finds credentials; nil is the default keychain (the docker
	// config file, as `docker login` and `crane auth login` write it).
	Keychain authn.Keychain
	// Transport, when set, is the HTTP transport used.
	Transport http.RoundTripper
}

// Push uploads idx and its images to the registry as ref and returns the
// pushed reference by digest.
func Push(ctx context.Context, ref string, idx v1.ImageIndex, o PushOptions) (string, error) {
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		ropts = append(ropts, remote.WithTransport(o.Transport))
	}
	if err := remote.WriteIndex(r, idx, ropts...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}
