package charts

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// TestReadmeListsEveryValue fails when a value in values.yaml is missing from
// the README's values table (a value is covered by its own row or a parent's).
func TestReadmeListsEveryValue(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatalf("reading the chart README: %v", err)
	}
	var paths []string
	collectPaths(loadChart(t).Values, "", &paths)
	sort.Strings(paths)
	if len(paths) < 40 {
		t.Fatalf("found only %d values: %v", len(paths), paths)
	}
	for _, p := range paths {
		if !documented(string(readme), p) {
			t.Errorf("value %s is not in charts/README.md", p)
		}
	}
}

// collectPaths appends the dotted path of every leaf value (empty maps and
// lists count as leaves).
func collectPaths(v map[string]any, prefix string, out *[]string) {
	for k, child := range v {
		p := prefix + k
		if m, ok := child.(map[string]any); ok && len(m) > 0 {
			collectPaths(m, p+".", out)
			continue
		}
		*out = append(*out, p)
	}
}

func documented(readme, path string) bool {
	for {
		if strings.Contains(readme, "| `"+path+"` |") {
			return true
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}
