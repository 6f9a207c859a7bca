package charts

import (
	"strings"
	"testing"
)

// TestBadValuesFail checks that wrong values stop the install with a message
// that names the value, from the schema or from the templates' own checks.
func TestBadValuesFail(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want []string // every one must appear in the error
	}{
		{"duration with words", map[string]any{"relay": map[string]any{"cacheTTL": "10 seconds"}}, []string{"/relay/cacheTTL", "does not match pattern"}},
		{"duration without unit", map[string]any{"relay": map[string]any{"drainDelay": "5"}}, []string{"/relay/drainDelay"}},
		{"duration as a number", map[string]any{"relay": map[string]any{"upstreamTimeout": 10}}, []string{"/relay/upstreamTimeout", "string"}},
		{"log level", map[string]any{"relay": map[string]any{"logLevel": "verbose"}}, []string{"/relay/logLevel", "debug", "info"}},
		{"log format", map[string]any{"relay": map[string]any{"logFormat": "xml"}}, []string{"/relay/logFormat"}},
		{"upstream scheme", map[string]any{"relay": map[string]any{"upstream": "ftp://menus/api/"}}, []string{"/relay/upstream"}},
		{"negative cache size", map[string]any{"relay": map[string]any{"cacheMaxMB": -1}}, []string{"/relay/cacheMaxMB"}},
		{"misspelt relay key", map[string]any{"relay": map[string]any{"cacheTtl": "10s"}}, []string{"cacheTtl"}},
		{"unknown top-level key", map[string]any{"replicas": 3}, []string{"replicas"}},
		{"min replicas zero", map[string]any{"autoscaling": map[string]any{"minReplicas": 0}}, []string{"/autoscaling/minReplicas", "minimum"}},
		{"cpu target as text", map[string]any{"autoscaling": map[string]any{"targetCPUUtilizationPercentage": "70%"}}, []string{"/autoscaling/targetCPUUtilizationPercentage"}},
		{"port out of range", map[string]any{"ports": map[string]any{"http": 70000}}, []string{"/ports/http", "maximum"}},
		{"pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, []string{"/image/pullPolicy"}},
		{"image tag with a space", map[string]any{"image": map[string]any{"tag": "0.1 0"}}, []string{"/image/tag"}},
		{"service type", map[string]any{"service": map[string]any{"type": "Ingress"}}, []string{"/service/type"}},
		{"memory quantity", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}, []string{"/resources/limits/memory"}},
		{"error rate above one", map[string]any{"menuApi": map[string]any{"enabled": true, "errorRate": 1.5}}, []string{"/menuApi/errorRate", "maximum"}},
		{"stand-in latency", map[string]any{"menuApi": map[string]any{"latency": "slow"}}, []string{"/menuApi/latency"}},
		{"test path with shell", map[string]any{"test": map[string]any{"path": "/restaurant$(id)"}}, []string{"/test/path"}},
		{"pdb percentage", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "half"}}, []string{"/podDisruptionBudget/minAvailable"}},
		{"grace period not above drain and shutdown", map[string]any{"terminationGracePeriodSeconds": 15, "relay": map[string]any{"drainDelay": "5s", "shutdownTimeout": "10s"}}, []string{"terminationGracePeriodSeconds (15)", "relay.drainDelay (5s)", "relay.shutdownTimeout (10s)"}},
		{"grace period below a minutes drain delay", map[string]any{"terminationGracePeriodSeconds": 60, "relay": map[string]any{"drainDelay": "1m30s"}}, []string{"terminationGracePeriodSeconds (60)", "relay.drainDelay (1m30s)"}},
		{"max body unit", map[string]any{"relay": map[string]any{"maxBody": "1MB"}}, []string{"/relay/maxBody"}},
		{"stand-in fault mode", map[string]any{"menuApi": map[string]any{"fault": "flaky"}}, []string{"/menuApi/fault", "garbled"}},
		{"pprof as text", map[string]any{"relay": map[string]any{"pprof": "yes"}}, []string{"/relay/pprof", "boolean"}},
		{"cors origin without scheme", map[string]any{"relay": map[string]any{"corsOrigins": "lunch.example"}}, []string{"/relay/corsOrigins", "does not match pattern"}},
		{"cors origin with a path", map[string]any{"relay": map[string]any{"corsOrigins": "https://lunch.example/menu"}}, []string{"/relay/corsOrigins"}},
		{"cors star in a list", map[string]any{"relay": map[string]any{"corsOrigins": "*,https://lunch.example"}}, []string{"/relay/corsOrigins"}},
		{"max below min replicas", map[string]any{"autoscaling": map[string]any{"minReplicas": 5, "maxReplicas": 3}}, []string{"autoscaling.maxReplicas (3)", "autoscaling.minReplicas (5)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderError(t, tc.vals).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not name %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestGoodEdgeValuesPass guards the schema against refusing valid values.
func TestGoodEdgeValuesPass(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"compound durations":     {"relay": map[string]any{"cacheTTL": "1m30s", "staleIfError": "1.5h", "upstreamTimeout": "750ms", "drainDelay": "0s"}},
		"grace just above drain": {"terminationGracePeriodSeconds": 11, "relay": map[string]any{"drainDelay": "5500ms", "shutdownTimeout": "5s"}},
		"numeric quantities":     {"resources": map[string]any{"requests": map[string]any{"cpu": 0.5, "memory": "100M"}, "limits": map[string]any{"cpu": 2, "memory": "1Gi"}}},
		"pdb percentage":         {"podDisruptionBudget": map[string]any{"minAvailable": "50%"}},
		"https upstream":         {"relay": map[string]any{"upstream": "https://menus.example.test/api/"}},
		"error rate zero":        {"menuApi": map[string]any{"enabled": true, "errorRate": 0}},
		"max body as text":       {"relay": map[string]any{"maxBody": "1048576"}},
		"max body in KiB":        {"relay": map[string]any{"maxBody": "512KiB"}},
		"cors origin list":       {"relay": map[string]any{"corsOrigins": "https://lunch.example, http://127.0.0.1:8081"}},
		"cors off":               {"relay": map[string]any{"corsOrigins": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			render(t, vals)
		})
	}
}
