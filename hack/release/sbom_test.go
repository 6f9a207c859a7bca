package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// cdxBOM is the part of a CycloneDX document the test reads.
type cdxBOM struct {
	BOMFormat  string `json:"bomFormat"`
	Components []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		PURL    string `json:"purl"`
	} `json:"components"`
}

// TestSBOM writes the release's SBOMs and checks that they list the
// libraries the project is built on at the versions go.mod requires: the
// relay's own in the binary's SBOM, and the cluster tooling's in the
// module graph's, where the binary's SBOM must not claim them.
func TestSBOM(t *testing.T) {
	tooltest.Long(t, "builds the binary and reads the module graph")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	version, err := chartVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := sbomCommand(ctx, repoRoot, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	relay := []string{"github.com/gorilla/mux", "github.com/allegro/bigcache/v3"}
	cluster := []string{"k8s.io/client-go", "sigs.k8s.io/kind"}
	for _, p := range platforms {
		binary := sbomFile(out, version, p)
		bin := readBOM(t, binary)
		for _, m := range relay {
			checkComponent(t, binary, bin, m, goModVersion(ctx, t, m))
		}
		for _, m := range cluster {
			if _, ok := bin[m]; ok {
				t.Errorf("%s lists %s, which the binary does not link", binary, m)
			}
		}
	}
	modules := modulesSBOMFile(out, version)
	all := readBOM(t, modules)
	for _, m := range append(relay, cluster...) {
		checkComponent(t, modules, all, m, goModVersion(ctx, t, m))
	}
}

func readBOM(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom cdxBOM
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bom.BOMFormat != "CycloneDX" {
		t.Fatalf("%s: bomFormat %q, want CycloneDX", path, bom.BOMFormat)
	}
	versions := map[string]string{}
	for _, c := range bom.Components {
		if !strings.HasPrefix(c.PURL, "pkg:golang/"+c.Name+"@"+c.Version) {
			t.Errorf("%s: component %s %s has purl %q", path, c.Name, c.Version, c.PURL)
		}
		versions[c.Name] = c.Version
	}
	return versions
}

func checkComponent(t *testing.T, path string, bom map[string]string, module, want string) {
	t.Helper()
	if got, ok := bom[module]; !ok {
		t.Errorf("%s does not list %s", path, module)
	} else if got != want {
		t.Errorf("%s lists %s %s, go.mod requires %s", path, module, got, want)
	}
}

// goModVersion is the version of module that go.mod selects.
func goModVersion(ctx context.Context, t *testing.T, module string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = repoRoot
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(b))
}
