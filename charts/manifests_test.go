package charts

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// manifestsFile holds the plain manifests `make manifests` writes with
// `helm template restaurants ./charts --namespace default --skip-tests --set admin.generateToken=false`.
var manifestsFile = filepath.Join("..", "k8s", "restaurants.yaml")

// TestManifestsInSync fails when k8s/restaurants.yaml no longer matches the chart.
func TestManifestsInSync(t *testing.T) {
	got, err := os.ReadFile(manifestsFile)
	if err != nil {
		t.Fatalf("reading plain manifests (make manifests writes them): %v", err)
	}
	// The file starts with a comment header; the rendering starts at the first "---".
	i := bytes.Index(got, []byte("---\n"))
	if i < 0 {
		t.Fatalf("%s has no YAML document", manifestsFile)
	}
	want := manifestOnly(t, "default")
	if !bytes.Equal(got[i:], want) {
		t.Errorf("%s is out of sync with the chart: run `make manifests`", manifestsFile)
	}
	// The plain manifests decode strictly too, and hold no helm test pod.
	r := newRendered(string(got))
	for _, doc := range splitDocuments(string(got)) {
		if err := r.add(doc); err != nil {
			t.Errorf("%s: %v", manifestsFile, err)
		}
	}
	if len(r.testPods) != 0 {
		t.Errorf("%s holds the helm test pod", manifestsFile)
	}
}
