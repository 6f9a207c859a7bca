package charts

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The relay's memory as the relay reckons it (internal/app.MemoryLimit):
// the cache, the upstream bodies in flight, 32 MiB.
func relayNeedMiB(cacheMB, inflight int, maxBodyMiB float64) float64 {
	return float64(cacheMB) + float64(inflight)*maxBodyMiB + 32
}

// The pod is sized for what the relay uses: the request covers the steady
// state of the default cache, and the cache fits the limit.
func TestRelayMemoryFitsThePod(t *testing.T) {
	c := relayContainer(t, render(t, nil))
	req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	// RSS of a relay with the default 64 MiB cache filled by a flood of
	// keys, as make bench measures it: about 115 MiB.
	if req.Cmp(resource.MustParse("115Mi")) < 0 {
		t.Errorf("memory request %s is below the steady state (~115Mi): such pods are evicted first", req)
	}
	if need := relayNeedMiB(64, 16, 1); need > float64(lim.Value())/(1<<20)*0.9 {
		t.Errorf("default limit %s: the relay needs %.0f MiB, more than nine tenths of it", lim, need)
	}
}

func TestTooSmallMemoryLimitIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		ok   bool
	}{
		{"defaults", nil, true},
		{"a larger cache in a larger pod", map[string]any{"relay": map[string]any{"cacheMaxMB": 256}, "resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}, true},
		{"the limit in bytes", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "268435456"}}}, true},
		{"the limit in decimal megabytes", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "300M"}}}, true},
		{"a limit below the default cache", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "100Mi"}}}, false},
		{"a cache too large for the default limit", map[string]any{"relay": map[string]any{"cacheMaxMB": 200}}, false},
		{"bodies in flight too large", map[string]any{"relay": map[string]any{"maxBody": "16MiB"}}, false},
		{"many calls in flight", map[string]any{"relay": map[string]any{"upstreamMaxInflight": 256}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ok {
				render(t, tc.vals)
				return
			}
			msg := renderError(t, tc.vals).Error()
			for _, want := range []string{"resources.limits.memory", "relay.cacheMaxMB"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not name %s:\n%s", want, msg)
				}
			}
		})
	}
}
