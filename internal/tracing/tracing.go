// Package tracing sets up OpenTelemetry tracing from the standard
// environment variables, and only from them: an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns
// it on; without one, or with OTEL_SDK_DISABLED=true, it is off, and
// nothing is started. The exporter speaks
// the protocol OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL names (grpc or http/protobuf, the default),
// and reads its other OTEL_EXPORTER_OTLP_* settings itself (headers,
// timeout, TLS, compression); the SDK reads OTEL_TRACES_SAMPLER and
// OTEL_BSP_*; the resource is service.name "restaurants" and the version,
// overridden by OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
//
// The provider is handed to whoever makes spans; no global of the otel
// package is set.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of the relay's spans unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise.
const DefaultServiceName = "restaurants"

// The protocols OTEL_EXPORTER_OTLP_PROTOCOL may name.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// Tracing is the relay's tracing: on, with a provider that exports over
// OTLP, or off.
type Tracing struct {
	// Provider makes the relay's tracers; when off, nil.
	Provider trace.TracerProvider
	// Protocol is the exporter's protocol; empty when off.
	Protocol string
	shutdown func(context.Context) error
}

// On reports whether tracing is on.
func (t *Tracing) On() bool { return t != nil && t.Provider != nil }

// Shutdown exports the spans still buffered and stops the exporter; off, it
// does nothing. ctx bounds the wait.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}

// Propagator is the W3C Trace Context and Baggage propagator: the
// traceparent, tracestate and baggage header fields.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Enabled reports whether the environment, read through lookup, turns
// tracing on: an OTLP endpoint is set, and OTEL_SDK_DISABLED is not true.
func Enabled(lookup func(string) (string, bool)) bool {
	if v, _ := lookup("OTEL_SDK_DISABLED"); strings.EqualFold(v, "true") {
		return false
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v, ok := lookup(name); ok && v != "" {
			return true
		}
	}
	return false
}

// Protocol is the OTLP protocol the environment asks for:
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
// else http/protobuf, the specification's default. Other protocols
// (http/json) are an error.
func Protocol(lookup func(string) (string, bool)) (string, error) {
	p := ProtocolHTTPProtobuf
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v, ok := lookup(name); ok && v != "" {
			p = v
			break
		}
	}
	switch p {
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	default:
		return "", fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want %s or %s", p, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
}

// FromEnv sets up tracing from the environment as the package comment
// says; lookup decides whether it is on and its protocol, while the
// exporter, the SDK and the resource read their own OTEL_* variables from
// the process environment. version becomes service.version. Off, it starts
// nothing and returns a Tracing whose Provider is nil. Nothing is dialed
// here: an unreachable collector costs failed exports, logged by the SDK,
// never the relay's start.
func FromEnv(ctx context.Context, version string, lookup func(string) (string, bool)) (*Tracing, error) {
	if !Enabled(lookup) {
		return &Tracing{}, nil
	}
	proto, err := Protocol(lookup)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", version),
		),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: last, so they win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	var exp sdktrace.SpanExporter
	switch proto {
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP %s trace exporter: %w", proto, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Protocol: proto, shutdown: tp.Shutdown}, nil
}
