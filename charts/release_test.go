package charts

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// publishedImage is the repository a release's image is pushed to
// (hack/release), and so the chart's default.
const publishedImage = "ghcr.io/scilifelab/restaurants"

// releasePlatforms are the platforms hack/release builds the image for.
var releasePlatforms = []string{"linux/amd64", "linux/arm64"}

// TestOneVersion holds every place a release's version appears to the
// chart's appVersion: the chart's version, the default image and its tag
// as rendered, the Makefile's VERSION (what `make build` and `make image`
// stamp into --version and tag), the Artifact Hub image annotation and the
// newest CHANGELOG.md entry.
func TestOneVersion(t *testing.T) {
	ch := loadChart(t)
	v := ch.Metadata.AppVersion
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Fatalf("appVersion %q is not a semantic version", v)
	}
	if ch.Metadata.Version != v {
		t.Errorf("chart version %q differs from appVersion %q", ch.Metadata.Version, v)
	}

	img, _ := ch.Values["image"].(map[string]any)
	if img["repository"] != publishedImage {
		t.Errorf("default image.repository %v, want %s", img["repository"], publishedImage)
	}
	if tag := img["tag"]; tag != "" && tag != v {
		t.Errorf("default image.tag %q: want empty (the appVersion) or %q", tag, v)
	}
	want := publishedImage + ":" + v
	r := render(t, nil)
	for _, c := range r.deployments[relayName].Spec.Template.Spec.Containers {
		if c.Image != want {
			t.Errorf("container %s runs %q by default, want %q", c.Name, c.Image, want)
		}
	}
	r = render(t, map[string]any{"image": map[string]any{"tag": "1.2.3-rc.1"}})
	if got := r.deployments[relayName].Spec.Template.Spec.Containers[0].Image; got != publishedImage+":1.2.3-rc.1" {
		t.Errorf("with image.tag set the relay runs %q", got)
	}

	if got := makeOutput(t, "version"); got != v {
		t.Errorf("make version (the Makefile's VERSION) says %q, want %q", got, v)
	}
	if got := makeOutput(t, "-n", "image"); !strings.Contains(got, "IMAGE="+want+" ") {
		t.Errorf("make image would build %q, want it to tag %s", got, want)
	}

	var images []struct {
		Name      string   `json:"name"`
		Image     string   `json:"image"`
		Platforms []string `json:"platforms"`
	}
	if err := yaml.UnmarshalStrict([]byte(ch.Metadata.Annotations["artifacthub.io/images"]), &images); err != nil {
		t.Fatalf("artifacthub.io/images: %v", err)
	}
	if len(images) != 1 || images[0].Image != want || !slices.Equal(images[0].Platforms, releasePlatforms) {
		t.Errorf("artifacthub.io/images %+v, want %s for %v", images, want, releasePlatforms)
	}

	entry, changes := newestChangelogEntry(t)
	if entry != v {
		t.Errorf("CHANGELOG.md's newest release is %q, want %q", entry, v)
	}
	var annotated []change
	if err := yaml.UnmarshalStrict([]byte(ch.Metadata.Annotations["artifacthub.io/changes"]), &annotated); err != nil {
		t.Fatalf("artifacthub.io/changes: %v", err)
	}
	if !slices.Equal(annotated, changes) {
		t.Errorf("artifacthub.io/changes differs from CHANGELOG.md's %s entry:\nannotation: %q\nchangelog:  %q", entry, annotated, changes)
	}
}

// change is one item of artifacthub.io/changes.
type change struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// changelogKinds maps Keep a Changelog's sections to Artifact Hub's kinds.
var changelogKinds = map[string]string{
	"Added": "added", "Changed": "changed", "Deprecated": "deprecated",
	"Removed": "removed", "Fixed": "fixed", "Security": "security",
}

// newestChangelogEntry reads CHANGELOG.md (Keep a Changelog form) and
// returns its newest released version and that entry's items.
func newestChangelogEntry(t *testing.T) (string, []change) {
	t.Helper()
	b, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`^## \[(\d+\.\d+\.\d+[^\]]*)\] - \d{4}-\d{2}-\d{2}$`)
	var (
		version string
		kind    string
		items   []change
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			if version != "" {
				return version, items
			}
			if m := heading.FindStringSubmatch(line); m != nil {
				version = m[1]
			} else if line != "## [Unreleased]" {
				t.Fatalf("CHANGELOG.md: heading %q is not \"## [X.Y.Z] - YYYY-MM-DD\"", line)
			}
		case version == "":
		case strings.HasPrefix(line, "### "):
			var ok bool
			if kind, ok = changelogKinds[strings.TrimPrefix(line, "### ")]; !ok {
				t.Fatalf("CHANGELOG.md %s: section %q is not one of Keep a Changelog's", version, line)
			}
		case strings.HasPrefix(line, "- "):
			if kind == "" {
				t.Fatalf("CHANGELOG.md %s: item outside a section: %q", version, line)
			}
			items = append(items, change{Kind: kind, Description: strings.TrimPrefix(line, "- ")})
		}
	}
	if version == "" || len(items) == 0 {
		t.Fatal("CHANGELOG.md has no released entry with items")
	}
	return version, items
}

// makeOutput runs make in the repository's root and returns its trimmed output.
func makeOutput(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "--no-print-directory", "-C", ".."}, args...)...)
	// The Makefile's own defaults, not a caller's VERSION or IMAGE.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "VERSION=") || strings.HasPrefix(kv, "IMAGE=")
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
