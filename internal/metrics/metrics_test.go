package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
)

func newTestMetrics() *Metrics {
	return New("v1", Sources{
		CacheEntries:     func() int { return 7 },
		CacheBytes:       func() int { return 4096 },
		UpstreamInflight: func() int64 { return 2 },
	})
}

func TestCounting(t *testing.T) {
	m := newTestMetrics()
	m.Request(200, cache.Hit)
	m.Request(200, cache.Hit)
	m.Request(200, cache.Miss)
	m.Request(200, cache.Coalesced)
	m.Request(418, cache.None) // not a common code: counted all the same
	m.Request(200, cache.StaleOnError)
	m.Request(200, cache.Revalidating)
	m.Request(200, cache.Revalidating)
	m.Upstream("ok", 30*time.Millisecond)
	m.Upstream("timeout", 2*time.Second)
	m.Upstream("unheard_of", time.Millisecond)
	m.Skipped(guard.Budget)
	m.Skipped(guard.Budget)
	m.Skipped("busy")
	m.Skipped("unheard_of") // not a reason: ignored

	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{float64(m.requests.count(200, cache.Hit)), 2, "hits"},
		{float64(m.requests.count(200, cache.Miss)), 1, "misses"},
		{float64(m.requests.count(418, cache.None)), 1, "a rare code"},
		{testutil.ToFloat64(m.upstream.WithLabelValues("ok")), 1, "upstream ok"},
		{testutil.ToFloat64(m.upstream.WithLabelValues("unheard_of")), 1, "an unknown outcome"},
		{testutil.ToFloat64(m.coalesced), 1, "coalesced waits"},
		{testutil.ToFloat64(m.staleServed[0]), 2, "stale while revalidating"},
		{testutil.ToFloat64(m.staleServed[1]), 1, "stale on error"},
		{float64(m.requests.count(200, cache.Revalidating)), 3, "stale answers"},
		{testutil.ToFloat64(m.skipped["budget"]), 2, "calls skipped for the budget"},
		{testutil.ToFloat64(m.skipped["busy"]), 1, "calls skipped for no free slot"},
		{testutil.ToFloat64(m.skipped["backoff"]), 0, "calls skipped for a key's back-off"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestExposition(t *testing.T) {
	m := newTestMetrics()
	m.Request(200, cache.Hit)
	m.Upstream("ok", 30*time.Millisecond)
	want := `
# HELP restaurants_cache_entries Entries held in the cache.
# TYPE restaurants_cache_entries gauge
restaurants_cache_entries 7
# HELP restaurants_cache_bytes Memory taken by the cache's entries, in bytes.
# TYPE restaurants_cache_bytes gauge
restaurants_cache_bytes 4096
# HELP restaurants_upstream_inflight Calls to the upstream under way.
# TYPE restaurants_upstream_inflight gauge
restaurants_upstream_inflight 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"restaurants_cache_entries", "restaurants_cache_bytes", "restaurants_upstream_inflight"); err != nil {
		t.Fatal(err)
	}
	// Only label pairs that occurred are exposed.
	if n := testutil.CollectAndCount(m.requests); n != 1 {
		t.Fatalf("request series = %d, want 1", n)
	}
	if n, err := testutil.GatherAndCount(m.Registry, "restaurants_build_info"); err != nil || n != 1 {
		t.Fatalf("build info series = %d, %v", n, err)
	}
}

func TestSharedTierMetrics(t *testing.T) {
	if n, _ := testutil.GatherAndCount(newTestMetrics().Registry, "restaurants_shared_cache_up"); n != 0 {
		t.Fatalf("shared tier metrics without a shared tier: %d series", n)
	}
	m := New("v1", Sources{CacheEntries: func() int { return 0 }, CacheBytes: func() int { return 0 },
		UpstreamInflight: func() int64 { return 0 }, Shared: true})
	m.SharedUp(true)
	m.SharedLookup("hit")
	m.SharedLookup("hit")
	m.SharedLookup("miss")
	m.SharedError("get")
	m.SharedLeaseWait()
	m.SharedLeaseLost()
	m.Request(200, cache.SharedHit)
	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{testutil.ToFloat64(m.sharedUp), 1, "up"},
		{testutil.ToFloat64(m.sharedLookups["hit"]), 2, "hits"},
		{testutil.ToFloat64(m.sharedLookups["miss"]), 1, "misses"},
		{testutil.ToFloat64(m.sharedErrors["get"]), 1, "get errors"},
		{testutil.ToFloat64(m.leaseWaits), 1, "lease waits"},
		{testutil.ToFloat64(m.leasesLost), 1, "leases lost"},
		{float64(m.requests.count(200, cache.SharedHit)), 1, "shared hits served"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	m.SharedUp(false)
	if v := testutil.ToFloat64(m.sharedUp); v != 0 {
		t.Errorf("down: up = %v", v)
	}
}

func TestRequestCountsAddUpAcrossGoroutinesAndStates(t *testing.T) {
	m := newTestMetrics()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				m.Request(200, cache.Hit)
				m.Request(200, cache.Revalidating)
				m.Request(200, cache.StaleOnError)
				m.Request(599, cache.StaleOnError)
			}
		}()
	}
	wg.Wait()
	// The two stale states share one series, which is sent once.
	want := `
# HELP restaurants_requests_total Requests answered, by status code and cache result (hit, miss, coalesced, stale, none).
# TYPE restaurants_requests_total counter
restaurants_requests_total{cache="hit",code="200"} 8000
restaurants_requests_total{cache="stale",code="200"} 16000
restaurants_requests_total{cache="stale",code="599"} 8000
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "restaurants_requests_total"); err != nil {
		t.Fatal(err)
	}
}
