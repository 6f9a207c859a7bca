package doclinks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readmes are the project's Markdown files whose links must resolve, relative
// to the module's root.
var readmes = []string{
	"README.md",
	"charts/README.md",
	"hack/README.md",
	"cmd/loadtest/README.md",
	"cmd/restaurants/README.md",
	"cmd/restaurant-menu/README.md",
	"cmd/menu-api/README.md",
}

// TestReadmeLinksResolve fails on every relative link of the READMEs that
// names a missing file or a missing heading.
func TestReadmeLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	links := 0
	for _, path := range readmes {
		errs, err := Check(root, path)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Error(e)
		}
		text, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		links += len(Links(string(text)))
	}
	if links < 30 {
		t.Errorf("found %d relative links in the READMEs: the link parser misses some", links)
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"How a request travels":                              "how-a-request-travels",
		"Benchmark: `make bench`":                            "benchmark-make-bench",
		"hot: one hot key, c=20, TTL 10s, upstream 50 ms":    "hot-one-hot-key-c20-ttl-10s-upstream-50-ms",
		"flood, hang and cluster: the upstream's protection": "flood-hang-and-cluster-the-upstreams-protection",
		"The command line: `restaurant-menu`":                "the-command-line-restaurant-menu",
		"Räfven and [a link](x.md)":                          "räfven-and-a-link",
		"snake_case -- twice":                                "snake_case----twice",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestAnchors(t *testing.T) {
	md := "# Title\n\n## Usage\n\n```sh\n# not a heading\n```\n\n## Usage\n\n<a id=\"runbook\"></a>\n#### Runbook\n"
	got := Anchors(md)
	for _, want := range []string{"title", "usage", "usage-1", "runbook"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment inside a code block counted as a heading")
	}
}

func TestLinks(t *testing.T) {
	md := "See [the chart](charts/README.md#values), ![a picture](hack/x.png \"title\"),\n" +
		"[the site](https://example.org/a.md), `[not](a-link.md)` and [here](#usage).\n" +
		"```\n[in a block](no.md)\n```\n"
	want := []string{"charts/README.md#values", "hack/x.png", "#usage"}
	if got := Links(md); !slices.Equal(got, want) {
		t.Errorf("Links = %q, want %q", got, want)
	}
}

// TestCheckFindsBrokenLinks proves the check can fail: a missing file, a
// missing anchor in another file and in the same one.
func TestCheckFindsBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sub/OTHER.md", "# Other\n\n## Kept: `here`\n")
	write("README.md", "# Top\n\n"+
		"[ok](sub/OTHER.md#kept-here) [ok](#top) [ok](sub/)\n"+
		"[gone](sub/GONE.md) [no anchor](sub/OTHER.md#removed) [no local](#nowhere)\n")
	errs, err := Check(dir, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3:\n%s", len(errs), all)
	}
	for _, want := range []string{"sub/GONE.md does not exist", `no heading or anchor "removed"`, `no heading or anchor "nowhere"`} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
}
