package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"sigs.k8s.io/yaml"
)

// chartFile is the version's single source: the chart's appVersion, which
// its version follows.
const chartFile = "charts/Chart.yaml"

// semver is the form a release version takes (a tag is "v" and this).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`)

// chartVersion reads the release version from charts/Chart.yaml under root:
// its appVersion, which must equal the chart's version and be a semantic
// version.
func chartVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, chartFile))
	if err != nil {
		return "", fmt.Errorf("reading the version: %w", err)
	}
	var c struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("parsing %s: %w", chartFile, err)
	}
	if c.AppVersion != c.Version {
		return "", fmt.Errorf("%s: appVersion %q and version %q differ: a release gives both one version", chartFile, c.AppVersion, c.Version)
	}
	if !semver.MatchString(c.AppVersion) {
		return "", fmt.Errorf("%s: appVersion %q is not a semantic version", chartFile, c.AppVersion)
	}
	return c.AppVersion, nil
}
