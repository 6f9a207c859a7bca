package relay

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/guard"
)

// hang is an upstream that answers nothing until the request ends.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// A hanging upstream costs nobody with a copy a wait: past the revalidate
// window but inside stale-if-error the copy comes at once while one
// background refresh runs; after the failure the key backs off; only a key
// with no copy waits for the upstream.
func TestHangingUpstreamCostsNoWait(t *testing.T) {
	o := defaults()
	o.ttl, o.swr, o.timeout = 4*time.Second, 2*time.Second, 500*time.Millisecond
	o.backoff = guard.Backoff{Min: 10 * time.Second, Max: time.Minute}
	f := newFixture(t, jsonHandler(200, listJSON), o)
	f.get("/restaurant/bikupan")
	f.setUpstream(hang)
	f.clock.Advance(7 * time.Second) // past TTL + stale-while-revalidate

	start := time.Now()
	for i := range 20 {
		resp, body := f.get("/restaurant/bikupan")
		expect(t, resp, 200, "STALE")
		if body != listJSON {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if took := time.Since(start); took > o.timeout {
		t.Fatalf("20 requests with a copy took %s, more than one upstream timeout (%s): they waited", took, o.timeout)
	}
	waitFor(t, "the refresh to time out", func() bool {
		return counterValue(t, f.metrics, "restaurants_upstream_requests_total", map[string]string{"outcome": "timeout"}) == 1 &&
			!f.relay.Cache().Fetching(targetOf("restaurant/bikupan"))
	})
	// Backing off: more stale answers, no more calls.
	for range 20 {
		resp, _ := f.get("/restaurant/bikupan")
		expect(t, resp, 200, "STALE")
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("upstream calls = %d, want 2: the first fetch and one refresh", n)
	}
	if s := counterValue(t, f.metrics, "restaurants_stale_served_total", map[string]string{"reason": "error"}); s != 20 {
		t.Errorf("stale on error = %v, want 20 (after the failed refresh)", s)
	}

	// A key with no copy waits for the upstream, once; then it backs off too.
	start = time.Now()
	resp, body := f.get("/restaurant/dufva")
	expectError(t, resp, body, http.StatusGatewayTimeout)
	if took := time.Since(start); took < o.timeout {
		t.Errorf("a key with no copy answered in %s, before the upstream timeout", took)
	}
	resp, body = f.get("/restaurant/dufva")
	expectError(t, resp, body, http.StatusGatewayTimeout)
	if ra := resp.Header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After while backing off = %q, want 10", ra)
	}
	if n := counterValue(t, f.metrics, "restaurants_upstream_skipped_total", map[string]string{"reason": "backoff"}); n != 1 {
		t.Errorf("calls skipped for back-off = %v, want 1", n)
	}

	// The upstream recovers; after the back-off one refresh renews the copy.
	f.setUpstream(jsonHandler(200, `{"v":2}`))
	f.clock.Advance(10 * time.Second)
	f.get("/restaurant/bikupan")
	waitFor(t, "the renewed copy", func() bool {
		resp, body := f.get("/restaurant/bikupan")
		return resp.Header.Get("X-Cache") == "HIT" && body == `{"v":2}`
	})
}

// The upstream call budget bounds what a client sending new keys costs:
// unknown restaurants and queries reach the upstream at most burst + rate x
// time, and the answer beyond is 503 with Retry-After.
func TestBudgetBoundsAFlood(t *testing.T) {
	o := defaults()
	o.guard = guard.Config{Rate: 5, Burst: 20}
	f := newFixture(t, jsonHandler(404, `{"detail":"Restaurant not found"}`), o)
	refused := 0
	for i := range 50 {
		resp, body := f.get("/restaurant/junk" + strconv.Itoa(i))
		switch resp.StatusCode {
		case http.StatusNotFound:
		case http.StatusServiceUnavailable:
			expectError(t, resp, body, http.StatusServiceUnavailable)
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
				t.Fatalf("budget refusal without Retry-After: %v", resp.Header)
			}
			refused++
		default:
			t.Fatalf("junk %d: status %d", i, resp.StatusCode)
		}
	}
	for i := range 200 { // queries are not keys: one call at most, already counted below
		f.get("/restaurant/junk0?x=" + strconv.Itoa(i))
	}
	first := 20 - int(guard.Reserve(20)) // first-time keys leave the reserve to refreshes
	if n := f.calls.Load(); n != int64(first) {
		t.Fatalf("upstream calls = %d, want %d (the burst less the refresh reserve)", n, first)
	}
	if refused != 50-first {
		t.Errorf("refused %d, want %d", refused, 50-first)
	}
	if n := counterValue(t, f.metrics, "restaurants_upstream_skipped_total", map[string]string{"reason": "budget"}); n != float64(50-first) {
		t.Errorf("budget refusals counted %v, want %d", n, 50-first)
	}
	// The budget refills at its rate: a second later there is room again.
	f.clock.Advance(time.Second)
	if resp, _ := f.get("/restaurant/junk-after-a-second"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a new key a second later: status %d, want the upstream's 404", resp.StatusCode)
	}
}

// Over budget, a known key is served stale instead of failing, and its
// refresh goes first when the budget allows.
func TestBudgetServesStaleFirst(t *testing.T) {
	o := defaults()
	o.guard = guard.Config{Rate: 1, Burst: 2} // reserve 1
	f := newFixture(t, jsonHandler(200, listJSON), o)
	f.get("/restaurant")
	f.clock.Advance(11 * time.Second) // stale; budget full (2)
	f.setUpstream(jsonHandler(404, `{"detail":"Restaurant not found"}`))
	resp, _ := f.get("/restaurant/new")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("first new key: %d", resp.StatusCode)
	}
	resp, _ = f.get("/restaurant/new2")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second new key took the refresh reserve: %d", resp.StatusCode)
	}
	f.setUpstream(jsonHandler(200, `{"v":2}`))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			resp, body := f.get("/restaurant")
			if resp.StatusCode != 200 || (body != listJSON && body != `{"v":2}`) {
				t.Errorf("stale key over budget: %d %q", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the refresh", func() bool {
		_, body := f.get("/restaurant")
		return body == `{"v":2}`
	})
}
