// Command mkimage writes a single-layer container image holding one static
// binary as a docker-archive tarball, the format "ctr images import" reads,
// without a container engine.
//
//	mkimage -binary bin/hostname -tag svccheck.local/hostname:1 -o hostname.tar [-- ARGS...]
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"time"
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
	if err := write(*bin, *dest, *tag, *out, *user, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(bin, dest, tag, out, user string, args []string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	epoch := time.Unix(0, 0).UTC()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, d := range []string{"etc/", "tmp/"} {
		if err := lw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: epoch}); err != nil {
			return err
		}
	}
	if err := lw.WriteHeader(&tar.Header{Name: path.Clean(dest)[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	if _, err := lw.Write(data); err != nil {
		return err
	}
	if err := lw.Close(); err != nil {
		return err
	}
	diffID := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch,
		"config":       map[string]any{"Entrypoint": append([]string{dest}, args...), "User": user},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerName}}})
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
