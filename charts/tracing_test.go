package charts

import (
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/tracing"
)

// TestTracingValuesReachTheRelay renders the tracing values and reads the
// container's environment as the relay does: off by default (no OTEL_*
// variable at all), on with the protocol and service name the values set.
func TestTracingValuesReachTheRelay(t *testing.T) {
	e := env(relayContainer(t, render(t, nil)))
	for k := range e {
		if strings.HasPrefix(k, "OTEL_") {
			t.Errorf("default values set %s; tracing must be off", k)
		}
	}
	if tracing.Enabled(lookupIn(e)) {
		t.Error("tracing on with the default values")
	}

	e = env(relayContainer(t, render(t, map[string]any{"tracing": map[string]any{
		"endpoint": "http://otel-collector.observability:4317", "protocol": "grpc", "serviceName": "lunch-relay",
	}})))
	if !tracing.Enabled(lookupIn(e)) {
		t.Fatalf("tracing off with tracing.endpoint set: %v", e)
	}
	if p, err := tracing.Protocol(lookupIn(e)); err != nil || p != tracing.ProtocolGRPC {
		t.Errorf("protocol %q, %v; want grpc", p, err)
	}
	if e["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://otel-collector.observability:4317" || e["OTEL_SERVICE_NAME"] != "lunch-relay" {
		t.Errorf("environment %v, want the endpoint and service name of the values", e)
	}
}

func TestBadTracingValuesFail(t *testing.T) {
	for _, v := range []map[string]any{
		{"protocol": "http/json"},
		{"endpoint": "otel-collector:4317"},
		{"serviceName": ""},
		{"sampler": "always_on"},
	} {
		if err := renderError(t, map[string]any{"tracing": v}); err == nil {
			t.Errorf("tracing %v rendered; want the schema to refuse it", v)
		}
	}
}

func lookupIn(e map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := e[k]; return v, ok }
}
