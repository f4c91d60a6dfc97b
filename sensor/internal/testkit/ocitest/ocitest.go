// Package ocitest builds small OCI image archives for tests that run real
// containers without a registry: one uncompressed layer holding a static
// busybox and its applet links, in the OCI image layout that
// `ctr images import` reads.
package ocitest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Image describes the image to build.
type Image struct {
	Name    string   // full reference, e.g. docker.io/harrier/busybox:e2e
	Busybox string   // path of a statically linked busybox binary
	Applets []string // names linked to busybox in /bin (sh, sleep, ...)
	Cmd     []string // the image's default command
}

type blob struct {
	mediaType string
	data      []byte
	digest    string
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{mediaType: mediaType, data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// Write writes the image archive (a tar of the OCI image layout) to w.
func Write(w io.Writer, img Image) error {
	bb, err := os.ReadFile(img.Busybox)
	if err != nil {
		return fmt.Errorf("ocitest: busybox: %w", err)
	}
	layer, err := layerTar(bb, img.Applets)
	if err != nil {
		return err
	}
	lb := newBlob("application/vnd.oci.image.layer.v1.tar", layer)
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"created": time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config":  map[string]any{"Cmd": img.Cmd, "Env": []string{"PATH=/bin"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{lb.digest}},
	})
	if err != nil {
		return err
	}
	cb := newBlob("application/vnd.oci.image.config.v1+json", cfg)
	man, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor(cb), "layers": []any{descriptor(lb)},
	})
	if err != nil {
		return err
	}
	mb := newBlob("application/vnd.oci.image.manifest.v1+json", man)
	md := descriptor(mb)
	md["annotations"] = map[string]string{"io.containerd.image.name": img.Name, "org.opencontainers.image.ref.name": img.Name}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{md}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, b := range []blob{lb, cb, mb} {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + b.digest[len("sha256:"):], b.data})
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteFile writes the image archive to path.
func WriteFile(path string, img Image) error {
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

func descriptor(b blob) map[string]any {
	return map[string]any{"mediaType": b.mediaType, "digest": b.digest, "size": len(b.data)}
}

func layerTar(busybox []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "run"} {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(busybox))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n")
	if err := tw.WriteHeader(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(passwd); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
