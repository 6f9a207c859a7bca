package charts

import (
	"io"
	"testing"

	"github.com/scilifelab/restaurants/internal/app"
)

// TestCORSOriginsReachTheRelay renders relay.corsOrigins and parses the
// container's environment with the relay's own flag parser: the default is
// every origin, and an empty value must reach the relay as "no CORS" rather
// than be dropped (which would leave the relay's default "*" in force).
func TestCORSOriginsReachTheRelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"default", nil, "*"},
		{"off", map[string]any{"relay": map[string]any{"corsOrigins": ""}}, ""},
		{"list", map[string]any{"relay": map[string]any{"corsOrigins": "https://lunch.example,https://menu.example"}}, "https://lunch.example,https://menu.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env(relayContainer(t, render(t, tc.vals)))
			if _, ok := e["RESTAURANTS_CORS_ORIGINS"]; !ok {
				t.Fatalf("no RESTAURANTS_CORS_ORIGINS in the container's environment: %v", e)
			}
			cfg, err := app.ParseFlags(nil, func(k string) (string, bool) { v, ok := e[k]; return v, ok }, io.Discard)
			if err != nil {
				t.Fatalf("the relay refuses the chart's environment: %v", err)
			}
			if cfg.CORSOrigins != tc.want {
				t.Errorf("relay --cors-origins = %q, want %q", cfg.CORSOrigins, tc.want)
			}
		})
	}
}
