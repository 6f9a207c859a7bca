package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const exposition = `# HELP restaurants_requests_total Requests answered, by status code and cache result.
# TYPE restaurants_requests_total counter
restaurants_requests_total{cache="hit",code="200"} %d
restaurants_requests_total{cache="miss",code="200"} %d
restaurants_requests_total{cache="coalesced",code="200"} %d
restaurants_requests_total{cache="stale",code="200"} %d
restaurants_requests_total{cache="miss",code="404"} %d
# HELP restaurants_upstream_requests_total Upstream calls by outcome.
# TYPE restaurants_upstream_requests_total counter
restaurants_upstream_requests_total{outcome="ok"} %d
restaurants_upstream_requests_total{outcome="not_found"} %d
# HELP restaurants_upstream_request_duration_seconds Upstream call latency.
# TYPE restaurants_upstream_request_duration_seconds histogram
restaurants_upstream_request_duration_seconds_bucket{le="0.1"} 3
restaurants_upstream_request_duration_seconds_bucket{le="+Inf"} 4
restaurants_upstream_request_duration_seconds_sum 0.4
restaurants_upstream_request_duration_seconds_count 4
# TYPE restaurants_coalesced_waits_total counter
restaurants_coalesced_waits_total %d
# TYPE restaurants_stale_served_total counter
restaurants_stale_served_total{reason="revalidate"} %d
restaurants_stale_served_total{reason="error"} 0
# TYPE restaurants_cache_entries gauge
restaurants_cache_entries %d
# TYPE restaurants_cache_bytes gauge
restaurants_cache_bytes 12345
`

func sample(t *testing.T, hit, miss, coal, stale, miss404, ok, nf, waits, staleRev, entries int) *MetricsSample {
	t.Helper()
	s, err := ParseMetrics(strings.NewReader(fmt.Sprintf(exposition, hit, miss, coal, stale, miss404, ok, nf, waits, staleRev, entries)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiffMetrics(t *testing.T) {
	before := sample(t, 10, 2, 0, 0, 1, 2, 1, 0, 0, 2)
	after := sample(t, 910, 3, 19, 5, 2, 4, 2, 19, 5, 3)
	d := DiffMetrics(before, after)
	if d.UpstreamCalls != 3 || d.UpstreamByOutcome["ok"] != 2 || d.UpstreamByOutcome["not_found"] != 1 {
		t.Errorf("upstream %v %v, want 3 (ok 2, not_found 1)", d.UpstreamCalls, d.UpstreamByOutcome)
	}
	if d.Requests != 900+1+19+5+1 {
		t.Errorf("requests %v, want 926", d.Requests)
	}
	if d.RequestsByCache["hit"] != 900 || d.RequestsByCache["miss"] != 2 || d.RequestsByCache["coalesced"] != 19 || d.RequestsByCache["stale"] != 5 {
		t.Errorf("by cache %v", d.RequestsByCache)
	}
	if want := 900.0 / 926; d.HitRatio != want {
		t.Errorf("hit ratio %v, want %v", d.HitRatio, want)
	}
	if d.CoalescedWaits != 19 || d.StaleServed != 5 || d.StaleByReason["revalidate"] != 5 {
		t.Errorf("coalesced %v stale %v %v", d.CoalescedWaits, d.StaleServed, d.StaleByReason)
	}
	if _, ok := d.StaleByReason["error"]; ok {
		t.Error("unchanged series should be dropped from the split")
	}
	if d.CacheEntries != 3 || d.CacheBytes != 12345 {
		t.Errorf("cache %v entries %v bytes", d.CacheEntries, d.CacheBytes)
	}
	if len(d.Warnings) != 0 {
		t.Errorf("warnings %v", d.Warnings)
	}

	restarted := DiffMetrics(after, before)
	if len(restarted.Warnings) == 0 {
		t.Error("counters going down should warn")
	}
	empty, _ := ParseMetrics(strings.NewReader("# TYPE other_total counter\nother_total 1\n"))
	if w := DiffMetrics(empty, empty).Warnings; len(w) != 4 {
		t.Errorf("warnings %v, want one per missing counter", w)
	}
	var buf bytes.Buffer
	if err := d.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"upstream calls   3 (not_found 1, ok 2)", "hit ratio        0.9719", "coalesced waits  19"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestParseMetricsRejectsGarbage(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("this is { not prometheus\n")); err == nil {
		t.Error("garbage parsed")
	}
}

// The run scrapes a metrics endpoint before and after; here a fake relay's
// counters advance by what the load sent.
func TestRunWithMetrics(t *testing.T) {
	var hits atomic.Int64
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer relay.Close()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Load())
		fmt.Fprintf(w, exposition, n, 1, 0, 0, 0, 1, 0, 0, 0, 1)
	}))
	defer admin.Close()

	rep := mustRun(t, Config{Targets: []Target{{URL: relay.URL, Weight: 1}}, Connections: 2, Duration: 10 * time.Second, MaxRequests: 100, MetricsURL: admin.URL + "/metrics"})
	if rep.Metrics == nil || rep.Metrics.RequestsByCache["hit"] != 100 || rep.Metrics.UpstreamCalls != 0 {
		t.Fatalf("metrics %+v, want 100 hits and no upstream calls", rep.Metrics)
	}

	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	_, err := Run(context.Background(), Config{Targets: []Target{{URL: relay.URL, Weight: 1}}, Duration: time.Second, MetricsURL: notFound.URL + "/metrics"})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("err %v: unreadable metrics before the run should fail the run", err)
	}
}
