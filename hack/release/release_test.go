package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// repoRoot is the repository's root, seen from this package's directory.
const repoRoot = "../.."

// testRegistry serves go-containerregistry's in-process registry on a
// loopback port for the test and returns its host:port.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestVersionIsTheChartsAppVersion(t *testing.T) {
	v, err := chartVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version", "-root", repoRoot}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != v {
		t.Errorf("release version printed %q, want %q", got, v)
	}
}

func TestChartVersionRefusesDisagreement(t *testing.T) {
	for name, chart := range map[string]string{
		"differ":     "apiVersion: v2\nname: x\nversion: 0.1.0\nappVersion: \"0.2.0\"\n",
		"not semver": "apiVersion: v2\nname: x\nversion: dev\nappVersion: dev\n",
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "charts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, chartFile), []byte(chart), 0o644); err != nil {
				t.Fatal(err)
			}
			if v, err := chartVersion(root); err == nil {
				t.Errorf("chartVersion accepted %q", v)
			}
		})
	}
}

// TestImagePushPull builds the release's image index (both platforms, real
// cross-compiled binaries), pushes it to an in-process registry, pulls it
// back by tag and checks what a cluster would run: one manifest per
// platform, the entrypoint, the user, the labels, the layout, and the
// binary's own --version.
func TestImagePushPull(t *testing.T) {
	tooltest.Long(t, "builds the image for every platform and pushes it to a registry")
	ctx := testContext(t, 8*time.Minute)
	version, err := chartVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	host := testRegistry(t)
	out := t.TempDir()
	ca := filepath.Join(out, "ca.crt")
	caPEM := []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	start := time.Now()
	repo := host + "/scilifelab/restaurants"
	if err := imageCommand(ctx, imageOptions{root: repoRoot, out: out, push: repo, caFile: ca}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Logf("image index built and pushed in %s:\n%s", time.Since(start).Round(time.Second), stdout.String())

	ref, err := name.ParseReference(repo + ":" + version)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %q, want %q", im.MediaType, types.OCIImageIndex)
	}
	if got := im.Annotations["org.opencontainers.image.version"]; got != version {
		t.Errorf("index annotation version %q, want %q", got, version)
	}
	var got []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			t.Fatalf("manifest %s has no platform", m.Digest)
		}
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Fatalf("index platforms %v, want %v", got, want)
	}

	// The layout on disk holds the same index.
	lp, err := layout.FromPath(filepath.Join(out, "image"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	rm, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Manifests) != 1 || rm.Manifests[0].Digest != pushed {
		t.Errorf("OCI layout holds %v, want the pushed index %s", rm.Manifests, pushed)
	}
	if b, err := os.ReadFile(filepath.Join(out, "image.ref")); err != nil || string(b) != repo+"@"+pushed.String()+"\n" {
		t.Errorf("image.ref = %q (%v), want %s@%s", b, err, repo, pushed)
	}
	for _, m := range im.Manifests {
		name := "image-" + m.Platform.OS + "-" + m.Platform.Architecture + ".ref"
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != repo+"@"+m.Digest.String()+"\n" {
			t.Errorf("%s = %q (%v), want %s@%s", name, b, err, repo, m.Digest)
		}
	}

	for _, m := range im.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		t.Run(p, func(t *testing.T) {
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != m.Platform.OS || cf.Architecture != m.Platform.Architecture {
				t.Errorf("config says %s/%s in the %s manifest", cf.OS, cf.Architecture, p)
			}
			if want := []string{"/usr/local/bin/restaurants"}; !slices.Equal(cf.Config.Entrypoint, want) {
				t.Errorf("Entrypoint %v, want %v", cf.Config.Entrypoint, want)
			}
			if cf.Config.User != "65532:65532" {
				t.Errorf("User %q, want 65532:65532", cf.Config.User)
			}
			for _, port := range []string{"8000/tcp", "9090/tcp"} {
				if _, ok := cf.Config.ExposedPorts[port]; !ok {
					t.Errorf("port %s not exposed: %v", port, cf.Config.ExposedPorts)
				}
			}
			for k, want := range map[string]string{
				"org.opencontainers.image.version": version,
				"org.opencontainers.image.source":  "https://github.com/scilifelab/restaurants",
				"org.opencontainers.image.title":   "restaurants",
			} {
				if got := cf.Config.Labels[k]; got != want {
					t.Errorf("label %s = %q, want %q", k, got, want)
				}
			}
			files := layerFiles(t, img)
			if got := files["etc/ssl/certs/ca-certificates.crt"]; !bytes.Equal(got.data, caPEM) {
				t.Errorf("CA certificates in the image: %q, want the given file", got.data)
			}
			for _, c := range []string{"menu-api", "restaurant-menu", "loadtest"} {
				if l := files["usr/local/bin/"+c].link; l != "restaurants" {
					t.Errorf("/usr/local/bin/%s links to %q, want restaurants", c, l)
				}
			}
			bin := files["usr/local/bin/restaurants"]
			if bin.mode&0o111 == 0 || len(bin.data) == 0 {
				t.Fatalf("/usr/local/bin/restaurants: mode %o, %d bytes", bin.mode, len(bin.data))
			}
			if m.Platform.Architecture != runtime.GOARCH || runtime.GOOS != "linux" {
				t.Logf("%s binary not run on %s/%s", p, runtime.GOOS, runtime.GOARCH)
				return
			}
			exe := filepath.Join(t.TempDir(), "restaurants")
			if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := exec.CommandContext(ctx, exe, "--version").Output()
			if err != nil {
				t.Fatalf("%s --version: %v", p, err)
			}
			if want := "restaurants " + version + "\n"; string(got) != want {
				t.Errorf("the pulled %s binary's --version says %q, want %q", p, got, want)
			}
		})
	}
}

// layerEntry is one file of an image layer.
type layerEntry struct {
	mode int64
	link string
	data []byte
}

// layerFiles reads every entry of img's layers.
func layerFiles(t *testing.T, img v1.Image) map[string]layerEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]layerEntry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = layerEntry{mode: h.Mode, link: h.Linkname, data: b}
		}
		rc.Close()
	}
	return files
}
