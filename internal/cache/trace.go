package cache

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// The names of the cache's spans. A request that waits for a fetch it
// started has the fetch's span (SpanFetch) as its child; a request that
// waits for another's fetch has a SpanWait linked to it; a stale copy's
// refresh runs behind the request that served it, as a SpanRefresh of its
// own, linked to that request, and warming as a SpanWarm. Below a fetch,
// SpanUpstream is the upstream call and SpanSharedWait the wait for another
// relay's lease.
const (
	SpanFetch      = "cache.fetch"
	SpanRefresh    = "cache.refresh"
	SpanWarm       = "cache.warm"
	SpanWait       = "cache.wait"
	SpanUpstream   = "upstream.call"
	SpanSharedWait = "shared.wait"
)

// The attributes of the cache's spans.
const (
	// AttrKey is the cache key of a request or a fetch.
	AttrKey = attribute.Key("cache.key")
	// AttrState is how a request was answered (State.String: hit,
	// shared_hit, miss, coalesced, stale or none) or, on a fetch, what the
	// fetch ended with: the same, or revalidated when a 304 renewed the copy.
	AttrState = attribute.Key("cache.state")
	// AttrStored tells whether a fetch stored its answer.
	AttrStored = attribute.Key("cache.stored")
	// AttrGrant is the shared tier's answer to a claim (sharedcache.Grant).
	AttrGrant = attribute.Key("shared.grant")
	// AttrReason is why the guard refused an upstream call (guard.Reason).
	AttrReason = attribute.Key("guard.reason")
	// AttrStatus is the upstream's status code.
	AttrStatus = attribute.Key("http.response.status_code")
	// AttrNotModified tells that the upstream answered 304 and the copy
	// was renewed.
	AttrNotModified = attribute.Key("upstream.not_modified")
	// AttrConditional tells that the upstream call was conditional.
	AttrConditional = attribute.Key("upstream.conditional")
	// AttrOutcome is the class of a failed upstream call (upstream.Outcome).
	AttrOutcome = attribute.Key("upstream.outcome")
)

// The events on a fetch's span.
const (
	// EventRefused: the guard refused an upstream call (AttrReason).
	EventRefused = "guard.refused"
	// EventClaim: the shared tier answered a claim (AttrGrant).
	EventClaim = "shared.claim"
	// EventSharedHit: the shared tier held a fresh answer.
	EventSharedHit = "shared.hit"
	// EventSharedStale: the shared tier held a stale copy, served while
	// it is refreshed.
	EventSharedStale = "shared.stale"
	// EventSharedFailed: a shared tier operation failed.
	EventSharedFailed = "shared.failed"
)

// tracerOf returns cfg's tracer, or nil when it makes no spans (none, or the no-op one).
func tracerOf(cfg Config) trace.Tracer {
	if cfg.Tracer == nil {
		return nil
	}
	if _, ok := cfg.Tracer.(noop.Tracer); ok {
		return nil
	}
	return cfg.Tracer
}

// flightSpan starts the span of a flight of key that the request of ctx
// started: the flight's context and span. The context carries ctx's values
// (its trace) without its cancellation. In the foreground, the request
// waits for the flight, whose span is a child of the request's; in the
// background (a refresh, warming), the flight's span is a root linked to
// the request's. Without tracing it is context.Background and a span that
// records nothing.
func (c *Cache) flightSpan(ctx context.Context, name, key string, background bool) (context.Context, trace.Span) {
	if c.tracer == nil {
		return context.Background(), trace.SpanFromContext(context.Background())
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(AttrKey.String(key))}
	if background {
		opts = append(opts, trace.WithNewRoot())
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	return c.tracer.Start(context.WithoutCancel(ctx), name, opts...)
}

// endFlight ends a flight's span with what the flight ended with.
func endFlight(span trace.Span, l loaded) {
	if !span.IsRecording() {
		return
	}
	state := l.state.String()
	if l.state == Revalidated {
		state = "revalidated" // a 304 renewed the copy
	}
	span.SetAttributes(AttrState.String(state), AttrStored.Bool(l.stored))
	if l.err != nil {
		span.SetStatus(codes.Error, l.err.Error())
	}
	span.End()
}

// refused records on ctx's span that the guard refused a call.
func refused(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	var r *guard.Refusal
	if errors.As(err, &r) {
		span.AddEvent(EventRefused, trace.WithAttributes(AttrReason.String(string(r.Reason))))
	}
}

// event adds an event to ctx's span, when it records.
func event(ctx context.Context, name string, attrs ...attribute.KeyValue) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// upstreamSpan starts the span of one upstream call, a child of ctx's.
func (c *Cache) upstreamSpan(ctx context.Context, conditional bool) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.tracer.Start(ctx, SpanUpstream, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrConditional.Bool(conditional)))
}

// endUpstream ends an upstream call's span with its status or failure.
func endUpstream(span trace.Span, resp upstream.Response, err error) {
	if !span.IsRecording() {
		return
	}
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue):
		span.SetAttributes(AttrOutcome.String(string(ue.Outcome)))
		if ue.Status != 0 {
			span.SetAttributes(AttrStatus.Int(ue.Status))
		}
		span.SetStatus(codes.Error, err.Error())
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
	default:
		span.SetAttributes(AttrStatus.Int(resp.Status), AttrNotModified.Bool(resp.Status == http.StatusNotModified))
	}
	span.End()
}

// waitSpan starts the span of a request waiting for a fetch another caller
// started, linked to that fetch; nil without tracing.
func (c *Cache) waitSpan(ctx context.Context, key string, f *flight) trace.Span {
	if c.tracer == nil {
		return nil
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(AttrKey.String(key))}
	if f.span.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: f.span}))
	}
	_, span := c.tracer.Start(ctx, SpanWait, opts...)
	return span
}
