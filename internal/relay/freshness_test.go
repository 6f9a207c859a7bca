package relay

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/process"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// revalidating is an upstream like the menu API: a lifetime in
// Cache-Control, a weak ETag, and 304 to a matching If-None-Match.
func revalidating(maxAge string, conditional *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age="+maxAge)
		w.Header().Set("ETag", `W/"v1"`)
		if r.Header.Get("If-None-Match") == `W/"v1"` {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		jsonHandler(200, listJSON)(w, r)
	}
}

func wantHeader(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

// TestUpstreamFreshnessRevalidationAndCacheStatus follows one key through
// its life: a miss fresh for the lifetime the upstream declares, hits whose
// Age, max-age and Cache-Status tell what is left, a stale copy served at
// once while a conditional refresh runs, and a 304 that renews it without
// a body to process.
func TestUpstreamFreshnessRevalidationAndCacheStatus(t *testing.T) {
	var processed, conditional atomic.Int64
	o := defaults()
	o.process = func(ctx context.Context, status int, body []byte) ([]byte, error) {
		processed.Add(1)
		return process.ValidJSON(ctx, status, body)
	}
	f := newFixture(t, revalidating("60", &conditional), o)

	resp, _ := f.get("/restaurant")
	expect(t, resp, 200, "MISS")
	wantHeader(t, resp, "Cache-Control", "public, max-age=60")
	wantHeader(t, resp, "Cache-Status", "restaurants; fwd=uri-miss; fwd-status=200; stored; ttl=60")

	f.clock.Advance(20 * time.Second)
	resp, _ = f.get("/restaurant")
	expect(t, resp, 200, "HIT")
	wantHeader(t, resp, "Age", "20")
	wantHeader(t, resp, "Cache-Control", "public, max-age=60")
	wantHeader(t, resp, "Cache-Status", "restaurants; hit; ttl=40")

	f.clock.Advance(50 * time.Second)
	resp, body := f.get("/restaurant")
	expect(t, resp, 200, "STALE")
	wantHeader(t, resp, "Cache-Status", "restaurants; fwd=stale; ttl=-10")
	if body != listJSON {
		t.Fatalf("stale body %q", body)
	}
	waitFor(t, "the conditional refresh", func() bool { return conditional.Load() == 1 && !f.relay.Cache().Fetching(mustParse(t, "/restaurant")) })
	resp, body = f.get("/restaurant")
	expect(t, resp, 200, "HIT")
	if body != listJSON {
		t.Fatalf("body after the 304 %q", body)
	}
	wantHeader(t, resp, "Age", "0")
	if n := processed.Load(); n != 1 {
		t.Errorf("the processing stage ran %d times, want 1: a 304 has no body to process", n)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("upstream called %d times, want 2 (the load and one conditional refresh)", n)
	}
	if got := counterValue(t, f.metrics, "restaurants_upstream_requests_total", map[string]string{"outcome": "not_modified"}); got != 1 {
		t.Errorf("upstream not_modified counted %v, want 1", got)
	}
}

// TestCacheStatusOfAStaleCopyForAFailingUpstream names why the copy is
// stale.
func TestCacheStatusOfAStaleCopyForAFailingUpstream(t *testing.T) {
	var conditional atomic.Int64
	o := defaults()
	f := newFixture(t, revalidating("60", &conditional), o)
	f.get("/restaurant")
	f.setUpstream(jsonHandler(500, `{"detail":"down"}`))
	f.clock.Advance(61 * time.Second)
	resp, _ := f.get("/restaurant")
	expect(t, resp, 200, "STALE")
	waitFor(t, "the failed refresh", func() bool { return !f.relay.Cache().Fetching(mustParse(t, "/restaurant")) })
	resp, _ = f.get("/restaurant")
	expect(t, resp, 200, "STALE")
	if cs := resp.Header.Get("Cache-Status"); !strings.HasPrefix(cs, "restaurants; fwd=stale; detail=http-error; ttl=-") {
		t.Errorf("Cache-Status %q, want a stale copy with detail=http-error", cs)
	}
}

func mustParse(t *testing.T, path string) upstream.Target {
	t.Helper()
	tg, err := upstream.ParseTarget(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestCacheStatusOfFailures: a failed fetch was forwarded; a call the
// budget refused was not.
func TestCacheStatusOfFailures(t *testing.T) {
	o := defaults()
	o.backoff = guard.Backoff{Min: time.Minute, Max: time.Hour}
	f := newFixture(t, jsonHandler(500, `{}`), o)
	resp, _ := f.get("/restaurant")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	wantHeader(t, resp, "Cache-Status", "restaurants; fwd=uri-miss; detail=http-error")
	resp, _ = f.get("/restaurant")
	wantHeader(t, resp, "Cache-Status", "restaurants; detail=backoff")
}
