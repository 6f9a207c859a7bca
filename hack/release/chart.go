package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
)

// chartOptions are the chart command's settings.
type chartOptions struct {
	root, out string
	push      string // oci://host/path to push to, "" for none
	plainHTTP bool
}

// chartCommand packages the chart at the version and pushes it when asked.
func chartCommand(o chartOptions, stdout io.Writer) error {
	version, err := chartVersion(o.root)
	if err != nil {
		return err
	}
	pkg, err := packageChart(o.root, o.out, version)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chart\t%s\n", pkg)
	if o.push == "" {
		return nil
	}
	ref, digest, err := pushChart(pkg, o.push, o.plainHTTP)
	if err != nil {
		return err
	}
	repo := ref[:strings.LastIndex(ref, ":")] // the tag pushChart appended
	pinned := repo + "@" + digest
	if err := writeRef(o.out, "chart.ref", pinned); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pushed\t%s\t%s\n", ref, pinned)
	return nil
}

// packageChart runs helm package on charts/ with version as the chart's
// version and appVersion, into out, and returns the archive's path.
func packageChart(root, out, version string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("release output: %w", err)
	}
	p := action.NewPackage()
	p.Version = version
	p.AppVersion = version
	p.Destination = out
	path, err := p.Run(filepath.Join(root, "charts"), nil)
	if err != nil {
		return "", fmt.Errorf("helm package: %w", err)
	}
	return path, nil
}

// newRegistryClient is Helm's OCI registry client with the Helm and Docker
// credentials (helm registry login, docker login), over plain HTTP when asked.
func newRegistryClient(plainHTTP bool) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	return c, nil
}

// pushChart pushes the packaged chart at pkg to the OCI registry path
// remote (oci://host/path), as helm push does: the chart's name and
// version make the reference's last part and tag. It returns the
// reference and the manifest's digest.
func pushChart(pkg, remote string, plainHTTP bool) (ref, digest string, err error) {
	if !registry.IsOCI(remote) {
		return "", "", fmt.Errorf("chart registry %q: want oci://host/path", remote)
	}
	data, err := os.ReadFile(pkg)
	if err != nil {
		return "", "", fmt.Errorf("reading the chart: %w", err)
	}
	c, err := newRegistryClient(plainHTTP)
	if err != nil {
		return "", "", err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return "", "", fmt.Errorf("loading the chart archive %s: %w", pkg, err)
	}
	ref = strings.TrimSuffix(strings.TrimPrefix(remote, "oci://"), "/") + "/" + ch.Metadata.Name + ":" + ch.Metadata.Version
	res, err := c.Push(data, ref, registry.PushOptStrictMode(true))
	if err != nil {
		return "", "", fmt.Errorf("pushing the chart to %s: %w", ref, err)
	}
	return ref, res.Manifest.Digest, nil
}
