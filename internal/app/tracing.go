package app

import (
	"context"
	"net/http"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/scilifelab/restaurants/internal/tracing"
)

// tracerName names the relay's own tracer (the cache's spans).
const tracerName = "github.com/scilifelab/restaurants"

// The wrappers below add tracing's instrumentation when tp is set, and
// nothing at all when it is nil (tracing off): no wrapper, no hook, no
// tracer.

// tracedHandler wraps the relay's handler in otelhttp's server
// instrumentation: a span per request, continuing the caller's
// traceparent, named by the method.
func tracedHandler(h http.Handler, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "relay",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(tracing.Propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}

// tracedTransport wraps the upstream client's transport in otelhttp's
// client instrumentation, which sends traceparent to the upstream.
func tracedTransport(tp trace.TracerProvider) func(http.RoundTripper) http.RoundTripper {
	if tp == nil {
		return nil
	}
	return func(rt http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(tracing.Propagator()),
		)
	}
}

// tracedRedis adds go-redis's tracing hook to the shared tier's client:
// one span per command a fetch sends, without the commands' arguments
// (keys and signed bodies). The tier's own work, which belongs to no
// request (health pings, the purge subscription, connection handshakes),
// makes no span: only commands under a span are traced.
func tracedRedis(tp trace.TracerProvider) func(*redis.Client) error {
	if tp == nil {
		return nil
	}
	return func(c *redis.Client) error {
		return redisotel.InstrumentTracing(c,
			redisotel.WithTracerProvider(childrenOnly{tp: tp}),
			redisotel.WithDBStatement(false),
			redisotel.WithCallerEnabled(false),
			redisotel.WithDialFilter(true),
		)
	}
}

// childrenOnly is a TracerProvider whose tracers start spans only under a
// span: without one they start none.
type childrenOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childrenOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childrenOnlyTracer{tr: p.tp.Tracer(name, opts...)}
}

type childrenOnlyTracer struct {
	embedded.Tracer
	tr trace.Tracer
}

func (t childrenOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx) // records nothing
	}
	return t.tr.Start(ctx, name, opts...)
}

// cacheTracer is the tracer of the cache's spans; nil when tp is.
func cacheTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(tracerName)
}
