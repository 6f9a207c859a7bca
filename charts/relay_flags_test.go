package charts

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/scilifelab/restaurants/internal/app"
)

// chartOwnedFlags are relay flags the chart sets from other values
// (ports.http, ports.admin, sharedCache.*, admin.*, Secrets) or that make no sense in a
// Deployment.
var chartOwnedFlags = []string{"listen", "admin-listen", "version", "shared-cache", "shared-cache-password", "shared-cache-timeout",
	// from Secrets: admin.*, sharedCache.signingKey.*, sharedCache.tls.*
	"admin-token", "admin-token-file", "shared-cache-ca",
	"shared-cache-signing-key", "shared-cache-signing-key-file", "shared-cache-signing-key-previous", "shared-cache-signing-key-previous-file"}

var usageFlag = regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)

// TestChartCoversEveryRelayFlag asks the relay's own flag parser for its
// flags and checks that the chart has a value for each one, so a new flag
// cannot be forgotten here.
func TestChartCoversEveryRelayFlag(t *testing.T) {
	var usage bytes.Buffer
	_, err := app.ParseFlags([]string{"-help"}, func(string) (string, bool) { return "", false }, &usage)
	if !errors.Is(err, app.ErrHelp) {
		t.Fatalf("relay -help: %v", err)
	}
	var relayFlags []string
	for _, m := range usageFlag.FindAllStringSubmatch(usage.String(), -1) {
		relayFlags = append(relayFlags, m[1])
	}
	if len(relayFlags) < 10 {
		t.Fatalf("read only %d flags from the relay's usage:\n%s", len(relayFlags), usage.String())
	}
	var covered []string
	for _, s := range relaySettings {
		covered = append(covered, s.flag)
	}
	covered = append(covered, chartOwnedFlags...)
	for _, f := range relayFlags {
		if !slices.Contains(covered, f) {
			t.Errorf("relay flag --%s has no chart value (add it to values.yaml, the schema, the Deployment and relaySettings)", f)
		}
	}
	for _, f := range covered {
		if !slices.Contains(relayFlags, f) {
			t.Errorf("chart sets --%s, which the relay does not have", f)
		}
	}
}
