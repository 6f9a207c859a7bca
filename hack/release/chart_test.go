package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// TestChartPushPull packages the chart at the release version, pushes it
// to an in-process OCI registry through Helm's registry client (plain
// HTTP) and pulls it back.
func TestChartPushPull(t *testing.T) {
	version, err := chartVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	host := testRegistry(t)
	out := t.TempDir()
	var stdout bytes.Buffer
	if err := chartCommand(chartOptions{root: repoRoot, out: out, push: "oci://" + host + "/charts", plainHTTP: true}, &stdout); err != nil {
		t.Fatal(err)
	}
	t.Log(stdout.String())
	pkg := filepath.Join(out, "restaurants-"+version+".tgz")
	sent, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatalf("the packaged chart: %v", err)
	}

	c, err := newRegistryClient(true)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/charts/restaurants:" + version
	res, err := c.Pull(ref)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if !bytes.Equal(res.Chart.Data, sent) {
		t.Errorf("pulled chart (%d bytes) differs from the pushed one (%d bytes)", len(res.Chart.Data), len(sent))
	}
	if b, err := os.ReadFile(filepath.Join(out, "chart.ref")); err != nil || string(b) != host+"/charts/restaurants@"+res.Manifest.Digest+"\n" {
		t.Errorf("chart.ref = %q (%v), pull found manifest %s", b, err, res.Manifest.Digest)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil {
		t.Fatalf("loading the pulled chart: %v", err)
	}
	if ch.Metadata.Version != version || ch.Metadata.AppVersion != version {
		t.Errorf("pulled chart %s, appVersion %s; want both %s", ch.Metadata.Version, ch.Metadata.AppVersion, version)
	}
	tags, err := c.Tags(host + "/charts/restaurants")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != version {
		t.Errorf("registry tags %v, want [%s]", tags, version)
	}
}
