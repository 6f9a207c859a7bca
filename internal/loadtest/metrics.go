package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Names of the relay's metrics that a run's MetricsDelta is computed from.
const (
	MetricRequests         = "restaurants_requests_total"
	MetricUpstreamRequests = "restaurants_upstream_requests_total"
	MetricCoalescedWaits   = "restaurants_coalesced_waits_total"
	MetricStaleServed      = "restaurants_stale_served_total"
	MetricCacheEntries     = "restaurants_cache_entries"
	MetricCacheBytes       = "restaurants_cache_bytes"
)

// maxMetricsBytes bounds the size of a scraped exposition.
const maxMetricsBytes = 16 << 20

// MetricsSample is one scrape of a Prometheus text exposition.
type MetricsSample struct {
	families map[string]*dto.MetricFamily
}

// ParseMetrics parses a Prometheus text exposition.
func ParseMetrics(r io.Reader) (*MetricsSample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return &MetricsSample{families: fams}, nil
}

// ScrapeMetrics fetches and parses the exposition at url (the relay's admin /metrics).
func ScrapeMetrics(ctx context.Context, client *http.Client, url string) (*MetricsSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scraping metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping metrics: %s answered %s", url, resp.Status)
	}
	s, err := ParseMetrics(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	return s, nil
}

// Has reports whether the sample holds a metric family of that name.
func (s *MetricsSample) Has(name string) bool {
	_, ok := s.families[name]
	return ok
}

// Sum returns the sum of all series of a counter, gauge or untyped metric.
func (s *MetricsSample) Sum(name string) float64 {
	var total float64
	for _, v := range s.ByLabel(name, "") {
		total += v
	}
	return total
}

// ByLabel returns the metric's values summed by the value of one label
// (all series under "" when label is empty).
func (s *MetricsSample) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	fam, ok := s.families[name]
	if !ok {
		return out
	}
	for _, m := range fam.GetMetric() {
		key := ""
		if label != "" {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					key = lp.GetValue()
				}
			}
		}
		out[key] += value(m)
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// MetricsDelta is what the relay's counters say happened between two scrapes.
type MetricsDelta struct {
	// UpstreamCalls is the number of calls the relay made to its upstream.
	UpstreamCalls float64 `json:"upstream_calls"`
	// UpstreamByOutcome splits UpstreamCalls by outcome (ok, not_found, timeout, ...).
	UpstreamByOutcome map[string]float64 `json:"upstream_by_outcome"`
	// Requests is the number of requests the relay answered.
	Requests float64 `json:"requests"`
	// RequestsByCache splits Requests by cache result (hit, miss, stale, coalesced, none).
	RequestsByCache map[string]float64 `json:"requests_by_cache"`
	// HitRatio is the share of Requests answered from a fresh cache entry (cache="hit").
	HitRatio float64 `json:"hit_ratio"`
	// CoalescedWaits counts requests that waited for another request's upstream call.
	CoalescedWaits float64 `json:"coalesced_waits"`
	// StaleServed counts stale answers, by reason (revalidate, error).
	StaleServed float64 `json:"stale_served"`
	// StaleByReason splits StaleServed by reason.
	StaleByReason map[string]float64 `json:"stale_by_reason"`
	// CacheEntries and CacheBytes are the cache's size at the second scrape.
	CacheEntries float64 `json:"cache_entries"`
	// CacheBytes is the cache's size in bytes at the second scrape.
	CacheBytes float64 `json:"cache_bytes"`
	// Warnings tell why the numbers may not be trusted (missing metrics, a restart).
	Warnings []string `json:"warnings,omitempty"`
}

// DiffMetrics computes what happened between two scrapes of the relay's metrics.
func DiffMetrics(before, after *MetricsSample) *MetricsDelta {
	d := &MetricsDelta{
		UpstreamByOutcome: diffMap(before.ByLabel(MetricUpstreamRequests, "outcome"), after.ByLabel(MetricUpstreamRequests, "outcome")),
		RequestsByCache:   diffMap(before.ByLabel(MetricRequests, "cache"), after.ByLabel(MetricRequests, "cache")),
		CoalescedWaits:    after.Sum(MetricCoalescedWaits) - before.Sum(MetricCoalescedWaits),
		StaleByReason:     diffMap(before.ByLabel(MetricStaleServed, "reason"), after.ByLabel(MetricStaleServed, "reason")),
		CacheEntries:      after.Sum(MetricCacheEntries),
		CacheBytes:        after.Sum(MetricCacheBytes),
	}
	for _, name := range []string{MetricRequests, MetricUpstreamRequests, MetricCoalescedWaits, MetricStaleServed} {
		if !after.Has(name) {
			d.Warnings = append(d.Warnings, fmt.Sprintf("metric %s not exposed (counted as 0)", name))
		}
	}
	for _, v := range d.UpstreamByOutcome {
		d.UpstreamCalls += v
	}
	for _, v := range d.RequestsByCache {
		d.Requests += v
	}
	for _, v := range d.StaleByReason {
		d.StaleServed += v
	}
	if d.Requests > 0 {
		d.HitRatio = d.RequestsByCache["hit"] / d.Requests
	}
	if d.UpstreamCalls < 0 || d.Requests < 0 || d.CoalescedWaits < 0 || d.StaleServed < 0 {
		d.Warnings = append(d.Warnings, "counters went down between scrapes: the relay restarted or another instance answered")
	}
	return d
}

// diffMap subtracts before from after, key by key, dropping keys that did not change.
func diffMap(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if dv := v - before[k]; dv != 0 {
			out[k] = dv
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}

// WriteText writes the delta for people.
func (d *MetricsDelta) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "relay metrics during the run\n")
	fmt.Fprintf(&b, "  upstream calls   %s%s\n", num(d.UpstreamCalls), splits(d.UpstreamByOutcome))
	fmt.Fprintf(&b, "  requests         %s%s\n", num(d.Requests), splits(d.RequestsByCache))
	fmt.Fprintf(&b, "  hit ratio        %.4f\n", d.HitRatio)
	fmt.Fprintf(&b, "  coalesced waits  %s\n", num(d.CoalescedWaits))
	fmt.Fprintf(&b, "  stale served     %s%s\n", num(d.StaleServed), splits(d.StaleByReason))
	fmt.Fprintf(&b, "  cache            %s entries, %s bytes\n", num(d.CacheEntries), num(d.CacheBytes))
	for _, warn := range d.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", warn)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing metrics report: %w", err)
	}
	return nil
}

func num(v float64) string { return fmt.Sprintf("%.0f", v) }

func splits(m map[string]float64) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, num(m[k])))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// newMetricsClient returns the client that scrapes the relay's metrics.
func newMetricsClient(insecure bool) *http.Client {
	t := &http.Transport{DisableCompression: false, MaxIdleConnsPerHost: 1}
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// MetricsProbe returns a probe that reads the sum of a metric's series
// (all label values) from the Prometheus exposition at url, such as
// MetricUpstreamRequests from the relay's admin /metrics. A metric missing
// from the exposition is a failed read.
func MetricsProbe(name, url, metric string, counter, insecure bool) Probe {
	t := &http.Transport{DisableKeepAlives: true}
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: t}
	return Probe{Name: name, Counter: counter, Read: func(ctx context.Context) (float64, error) {
		s, err := ScrapeMetrics(ctx, client, url)
		if err != nil {
			return 0, err
		}
		if !s.Has(metric) {
			return 0, fmt.Errorf("metric %s not exposed at %s", metric, url)
		}
		return s.Sum(metric), nil
	}}
}
