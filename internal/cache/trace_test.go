package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/sharedcache"
)

// tracedFetch gets key from c in a request span of tp's and returns the
// fetch span it started, once ended, and the spans below it.
func tracedFetch(t *testing.T, c *Cache, rec *tracetest.SpanRecorder, tp *sdktrace.TracerProvider, key string) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	t.Helper()
	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	_, _ = c.Get(ctx, target(key))
	req.End()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range rec.Ended() {
			if s.Name() == SpanFetch && s.Parent().SpanID() == req.SpanContext().SpanID() {
				var children []sdktrace.ReadOnlySpan
				for _, o := range rec.Ended() {
					if o.Parent().SpanID() == s.SpanContext().SpanID() {
						children = append(children, o)
					}
				}
				return s, children
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fetch span of %s under the request", key)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventAttr(s sdktrace.ReadOnlySpan, event, key string) (string, bool) {
	for _, e := range s.Events() {
		if e.Name != event {
			continue
		}
		for _, a := range e.Attributes {
			if string(a.Key) == key {
				return a.Value.Emit(), true
			}
		}
		return "", true
	}
	return "", false
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func newTracedTierCache(t *testing.T, tier *fakeTier) (*Cache, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	clk := newFakeClock()
	cfg := tierConfig(clk, tier)
	cfg.Tracer = tp.Tracer("cache")
	if tier == nil {
		cfg.Guard, _ = guard.New(guard.Config{Rate: 0.001, Burst: 1, Now: clk.Now})
	}
	if tier != nil {
		tier.onHeld = func() {
			tier.wake("restaurant/a", sharedcache.Stored{Status: 200, Body: []byte(`{"by":"other"}`), At: clk.Now(), Header: header("Cache-Control", "max-age=60")})
		}
	}
	return newTestCache(t, cfg, newOrigin(200, `{"a":1}`)), rec, tp
}

func TestTraceHeldLeaseIsAWaitUnderTheFetch(t *testing.T) {
	tier := newFakeTier()
	tier.claims = []sharedcache.Claim{{Grant: sharedcache.Held, Wait: 5 * time.Second}}
	c, rec, tp := newTracedTierCache(t, tier)
	fetch, children := tracedFetch(t, c, rec, tp, "restaurant/a")
	if g, _ := eventAttr(fetch, EventClaim, string(AttrGrant)); g != "held" {
		t.Errorf("claim event grant %q, want held", g)
	}
	if _, ok := eventAttr(fetch, EventSharedHit, ""); !ok {
		t.Error("no shared.hit event after the holder stored its answer")
	}
	if len(children) != 1 || children[0].Name() != SpanSharedWait || spanAttr(children[0], "shared.woken") != "true" {
		t.Errorf("children %v, want one shared.wait woken by the holder", children)
	}
	if spanAttr(fetch, string(AttrState)) != "coalesced" {
		t.Errorf("fetch state %q, want coalesced", spanAttr(fetch, string(AttrState)))
	}
}

func TestTraceGrantedLeaseFetchesUpstream(t *testing.T) {
	c, rec, tp := newTracedTierCache(t, newFakeTier())
	fetch, children := tracedFetch(t, c, rec, tp, "restaurant/a")
	if g, _ := eventAttr(fetch, EventClaim, string(AttrGrant)); g != "granted" {
		t.Errorf("claim event grant %q, want granted", g)
	}
	if len(children) != 1 || children[0].Name() != SpanUpstream || spanAttr(children[0], string(AttrStatus)) != "200" {
		t.Errorf("children %v, want the upstream call with its status", children)
	}
}

func TestTraceClusterRefusalsAreClaimEvents(t *testing.T) {
	for _, g := range []sharedcache.Grant{sharedcache.Paused, sharedcache.OverBudget, sharedcache.Failing} {
		t.Run(g.String(), func(t *testing.T) {
			tier := newFakeTier()
			tier.claims = []sharedcache.Claim{{Grant: g, Wait: time.Second, Cause: "timeout"}}
			c, rec, tp := newTracedTierCache(t, tier)
			fetch, children := tracedFetch(t, c, rec, tp, "restaurant/a")
			if got, _ := eventAttr(fetch, EventClaim, string(AttrGrant)); got != g.String() {
				t.Errorf("claim event grant %q, want %s", got, g)
			}
			if fetch.Status().Code != codes.Error || len(children) != 0 {
				t.Errorf("fetch status %v with %d children, want an error and no upstream call", fetch.Status(), len(children))
			}
		})
	}
}

func TestTraceBudgetRefusalIsAnEvent(t *testing.T) {
	c, rec, tp := newTracedTierCache(t, nil)
	for i := range 5 {
		fetch, children := tracedFetch(t, c, rec, tp, fmt.Sprintf("restaurant/%d", i))
		if len(children) == 1 {
			continue // within the budget: the upstream call
		}
		if r, _ := eventAttr(fetch, EventRefused, string(AttrReason)); r != string(guard.Budget) || fetch.Status().Code != codes.Error {
			t.Errorf("refused fetch: reason %q, status %v; want budget and an error", r, fetch.Status())
		}
		return
	}
	t.Fatal("the budget refused no call")
}
