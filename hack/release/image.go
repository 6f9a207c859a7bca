package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// The image's layout, as the Dockerfile's and hack/image.sh's.
const (
	binDir     = "usr/local/bin"
	caPath     = "etc/ssl/certs/ca-certificates.crt"
	imageUser  = "65532:65532"
	imageTitle = "restaurants"
	imageDesc  = "Caching relay for the lunch-menu API of the restaurants near SciLifeLab, with its CLI, stand-in upstream and load tool"
	imageSrc   = "https://github.com/scilifelab/restaurants"
	// Repository is where a release's image is published; the chart's
	// default image.
	Repository = "ghcr.io/scilifelab/restaurants"
)

// imageOptions are the image command's settings.
type imageOptions struct {
	root, out string
	push      string // reference to push to, "" for none
	caFile    string // CA certificates copied into each image
}

// stamp is what the images record of their source.
type stamp struct {
	version, revision string
	created           time.Time
}

// sourceStamp is the version with the commit and its time (or
// SOURCE_DATE_EPOCH), so that a rebuild of one commit gives the same images.
func sourceStamp(ctx context.Context, root, version string) (stamp, error) {
	s := stamp{version: version, revision: "unknown", created: time.Unix(0, 0).UTC()}
	if out, err := gitOutput(ctx, root, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		s.revision = out
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if out, err := gitOutput(ctx, root, "log", "-1", "--format=%ct"); err == nil {
			epoch = out
		}
	}
	if epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return s, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", epoch)
		}
		s.created = time.Unix(sec, 0).UTC()
	}
	return s, nil
}

func gitOutput(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = root
	b, err := cmd.Output()
	return strings.TrimSpace(string(b)), err
}

// labels are the OCI labels of each image, the Dockerfile's.
func (s stamp) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       imageTitle,
		"org.opencontainers.image.description": imageDesc,
		"org.opencontainers.image.source":      imageSrc,
		"org.opencontainers.image.version":     s.version,
		"org.opencontainers.image.revision":    s.revision,
		"org.opencontainers.image.created":     s.created.Format(time.RFC3339),
	}
}

// imageCommand builds the binaries and the index, writes the OCI layout to
// out/image and pushes the index when asked.
func imageCommand(ctx context.Context, o imageOptions, stdout, stderr io.Writer) error {
	version, err := chartVersion(o.root)
	if err != nil {
		return err
	}
	st, err := sourceStamp(ctx, o.root, version)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return fmt.Errorf("CA certificates for the images (-ca-certificates): %w", err)
	}
	binaries := filepath.Join(o.out, "binaries")
	var idx v1.ImageIndex = empty.Index
	digests := map[platform]v1.Hash{}
	for _, p := range platforms {
		fmt.Fprintf(stderr, "release: building the %s binary (version %s)\n", p, version)
		bin, err := buildBinary(ctx, o.root, binaries, p, version)
		if err != nil {
			return err
		}
		img, err := platformImage(p, bin, ca, st)
		if err != nil {
			return err
		}
		size, err := imageSize(img)
		if err != nil {
			return err
		}
		if digests[p], err = img.Digest(); err != nil {
			return fmt.Errorf("digest of the %s image: %w", p, err)
		}
		fmt.Fprintf(stdout, "%s\t%d bytes compressed\n", p, size)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.os, Architecture: p.arch}},
		})
	}
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	idx = mutate.Annotations(idx, st.labels()).(v1.ImageIndex)
	dir := filepath.Join(o.out, "image")
	if err := writeLayout(dir, idx, version); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("digest of the index: %w", err)
	}
	fmt.Fprintf(stdout, "index\t%s\t%s\n", d, dir)
	if o.push == "" {
		return nil
	}
	ref, err := pushIndex(ctx, idx, o.push, version)
	if err != nil {
		return err
	}
	pinned := ref.Context().Digest(d.String()).String()
	if err := writeRef(o.out, "image.ref", pinned); err != nil {
		return err
	}
	for p, pd := range digests {
		if err := writeRef(o.out, "image-"+p.os+"-"+p.arch+".ref", ref.Context().Digest(pd.String()).String()); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "pushed\t%s\t%s\n", ref, pinned)
	return nil
}

// platformImage is one platform's image: FROM scratch, the CA certificates,
// the binary in /usr/local/bin with the other commands as relative
// symlinks to it, user 65532, the relay as entrypoint.
func platformImage(p platform, bin string, ca []byte, st stamp) (v1.Image, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading the %s binary: %w", p, err)
	}
	layerTar, err := rootfs(exe, ca, st.created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", p, err)
	}
	cfg := &v1.ConfigFile{
		Architecture: p.arch,
		OS:           p.os,
		Created:      v1.Time{Time: st.created},
		Config: v1.Config{
			Entrypoint:   []string{"/" + binDir + "/" + commands[0]},
			Env:          []string{"PATH=/" + binDir},
			User:         imageUser,
			ExposedPorts: map[string]struct{}{"8000/tcp": {}, "9090/tcp": {}},
			Labels:       st.labels(),
		},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("config of %s: %w", p, err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: st.created}, CreatedBy: "hack/release image", Comment: "the binary, its commands' symlinks and the CA certificates"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", p, err)
	}
	return img, nil
}

// rootfs is the image's one layer as a tar, every entry owned by root and
// dated mtime.
func rootfs(exe, ca []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) *tar.Header {
		h.ModTime, h.Format = mtime, tar.FormatPAX
		return h
	}
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "usr/", "usr/local/", binDir + "/"} {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755})); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{{caPath, 0o644, ca}, {binDir + "/" + commands[0], 0o755, exe}}
	for _, f := range files {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))})); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	for _, c := range commands[1:] {
		if err := tw.WriteHeader(hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: binDir + "/" + c, Linkname: commands[0], Mode: 0o777})); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return buf.Bytes(), nil
}

// imageSize is what pulling img transfers: its manifest, config and
// compressed layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// writeRef records a pushed artifact as repository@digest in out/name, for
// the signing and attestation steps that follow a push.
func writeRef(out, name, pinned string) error {
	if err := os.WriteFile(filepath.Join(out, name), []byte(pinned+"\n"), 0o644); err != nil {
		return fmt.Errorf("recording the pushed %s: %w", name, err)
	}
	return nil
}

// writeLayout writes idx into a fresh OCI image layout at dir, its
// descriptor named version (org.opencontainers.image.ref.name).
func writeLayout(dir string, idx v1.ImageIndex, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
		return fmt.Errorf("writing the index to %s: %w", dir, err)
	}
	return nil
}

// pushIndex pushes idx to ref (tagged version when ref has no tag) with
// the Docker credentials, and returns the reference pushed.
func pushIndex(ctx context.Context, idx v1.ImageIndex, ref, version string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.WithDefaultTag(version))
	if err != nil {
		return nil, fmt.Errorf("push reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", r, err)
	}
	return r, nil
}
