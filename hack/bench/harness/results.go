package harness

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// Results are everything one benchmark measured.
type Results struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Notes     []string         `json:"notes,omitempty"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Flood     *FloodResult     `json:"flood,omitempty"`
	Hang      *HangResult      `json:"hang,omitempty"`
	Cluster   *ClusterResult   `json:"cluster,omitempty"`
	Lunch     *LunchResult     `json:"lunch,omitempty"`
	Memory    *MemoryResult    `json:"memory,omitempty"`
	Sweep     *SweepResult     `json:"sweep,omitempty"`
}

// ScenarioResult holds the runs of one scenario.
type ScenarioResult struct {
	Name            string  `json:"name"`
	Title           string  `json:"title"`
	TTLSeconds      float64 `json:"ttl_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Rounds          int     `json:"rounds"`
	Keys            int     `json:"keys"`
	Connections     int     `json:"connections"`
	// RelayFlags are the flags each relay ran with beyond the defaults.
	RelayFlags map[string][]string `json:"relay_flags,omitempty"`
	Runs       []LoadRun           `json:"runs"`
}

// LoadRun is one load run against one system.
type LoadRun struct {
	System string           `json:"system"`
	Round  int              `json:"round"`
	Report *loadtest.Report `json:"report"`
	// UpstreamCalls is what the system's stand-in served during the run (-1: no upstream).
	UpstreamCalls int64 `json:"upstream_calls"`
	// CPUSeconds is the CPU time the system (with its child processes) used during the run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUMicrosPerRequest is CPUSeconds per request, in microseconds.
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
}

// Summary is a system's result over a scenario's rounds: medians of the
// rates and percentiles, the worst max, totals of errors.
type Summary struct {
	System        string
	RPS           float64
	P50, P99      float64
	P999, Max     float64
	Errors        int64
	UpstreamCalls float64 // per run; -1 when there is no upstream
	CPUPerRequest float64 // microseconds, median over runs
	Metrics       *loadtest.MetricsDelta
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summaries returns one Summary per system, in the order systems first ran.
func (sr *ScenarioResult) summaries() []Summary {
	var order []string
	for _, r := range sr.Runs {
		if !slices.Contains(order, r.System) {
			order = append(order, r.System)
		}
	}
	out := make([]Summary, 0, len(order))
	for _, name := range order {
		var rps, p50, p99, p999, calls, cpu []float64
		s := Summary{System: name, UpstreamCalls: -1}
		for _, r := range sr.Runs {
			if r.System != name {
				continue
			}
			l := r.Report.Latency
			rps, p50, p99, p999 = append(rps, r.Report.RequestsPerSecond), append(p50, l.P50), append(p99, l.P99), append(p999, l.P999)
			s.Max = max(s.Max, l.Max)
			cpu = append(cpu, r.CPUMicrosPerRequest)
			s.Errors += r.Report.Errors()
			if r.UpstreamCalls >= 0 {
				calls = append(calls, float64(r.UpstreamCalls))
			}
			if m := r.Report.Metrics; m != nil {
				if s.Metrics == nil {
					s.Metrics = &loadtest.MetricsDelta{RequestsByCache: map[string]float64{}}
				}
				s.Metrics.Requests += m.Requests
				s.Metrics.UpstreamCalls += m.UpstreamCalls
				s.Metrics.CoalescedWaits += m.CoalescedWaits
				s.Metrics.StaleServed += m.StaleServed
				for k, v := range m.RequestsByCache {
					s.Metrics.RequestsByCache[k] += v
				}
				s.Metrics.Warnings = append(s.Metrics.Warnings, m.Warnings...)
			}
		}
		s.RPS, s.P50, s.P99, s.P999, s.CPUPerRequest = median(rps), median(p50), median(p99), median(p999), median(cpu)
		if len(calls) > 0 {
			var sum float64
			for _, c := range calls {
				sum += c
			}
			s.UpstreamCalls = sum / float64(len(calls))
		}
		if s.Metrics != nil && s.Metrics.Requests > 0 {
			s.Metrics.HitRatio = s.Metrics.RequestsByCache["hit"] / s.Metrics.Requests
		}
		out = append(out, s)
	}
	return out
}

// steadyP99 returns each system's p99 in the hot-key scenario, the steady
// state the TTL scenario's expiries are compared with.
func (r *Results) steadyP99() map[string]float64 {
	m := map[string]float64{}
	for _, sr := range r.Scenarios {
		if sr.Name == ScenarioHot {
			for _, s := range sr.summaries() {
				m[s.System] = s.P99
			}
		}
	}
	return m
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// table returns the scenario's summary as table rows, ratios against nginx.
func (sr *ScenarioResult) table() (header []string, rows [][]string) {
	sums := sr.summaries()
	var ref *Summary
	for i := range sums {
		if sums[i].System == SystemNginx {
			ref = &sums[i]
		}
	}
	header = []string{"system", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "upstream calls/run", "CPU µs/req",
		"req/s vs nginx", "p99 vs nginx", "p99.9 vs nginx", "CPU/req vs nginx"}
	for _, s := range sums {
		calls := "-"
		if s.UpstreamCalls >= 0 {
			calls = fmt.Sprintf("%.1f", s.UpstreamCalls)
		}
		rr, r99, r999, rcpu := "-", "-", "-", "-"
		if ref != nil {
			rr, r99, r999, rcpu = ratio(s.RPS, ref.RPS), ratio(s.P99, ref.P99), ratio(s.P999, ref.P999), ratio(s.CPUPerRequest, ref.CPUPerRequest)
		}
		rows = append(rows, []string{s.System, fmt.Sprintf("%.0f", s.RPS), fmt.Sprintf("%.3f", s.P50), fmt.Sprintf("%.3f", s.P99),
			fmt.Sprintf("%.3f", s.P999), fmt.Sprintf("%.3f", s.Max), fmt.Sprint(s.Errors), calls, fmt.Sprintf("%.1f", s.CPUPerRequest),
			rr, r99, r999, rcpu})
	}
	return header, rows
}

// about is the line under a scenario's heading.
func (sr *ScenarioResult) about() string {
	return fmt.Sprintf("%d run(s) of %gs per system, alternating; medians over runs, max is the worst; CPU is the server's own (user+system, children included) per request.", sr.Rounds, sr.DurationSeconds)
}

// findings are what the scenario's numbers say beyond the table: calls
// per key per TTL, the tail at expiries against the steady state, what the
// relay's metrics counted, the flags it ran with.
func (sr *ScenarioResult) findings(steady map[string]float64) []string {
	var out []string
	for _, s := range sr.summaries() {
		if s.UpstreamCalls >= 0 && sr.Keys > 0 && sr.TTLSeconds > 0 {
			periods := max(1, sr.DurationSeconds/sr.TTLSeconds)
			out = append(out, fmt.Sprintf("%s: %.2f upstream calls per key per TTL (%d keys, %.0f TTL periods per run)",
				s.System, s.UpstreamCalls/(float64(sr.Keys)*periods), sr.Keys, periods))
		}
		if sr.Name == ScenarioTTL && steady[s.System] > 0 {
			out = append(out, fmt.Sprintf("%s: p99.9 at 1 s expiries %.3f ms = %.2f x its steady hot-key p99 (%.3f ms)",
				s.System, s.P999, s.P999/steady[s.System], steady[s.System]))
		}
		if m := s.Metrics; m != nil {
			out = append(out, fmt.Sprintf("%s metrics: %.0f requests, hit ratio %.4f, by cache %s, coalesced waits %.0f, stale served %.0f, upstream calls %.0f",
				s.System, m.Requests, m.HitRatio, cacheSplit(m.RequestsByCache), m.CoalescedWaits, m.StaleServed, m.UpstreamCalls))
			for _, warn := range slices.Compact(m.Warnings) {
				out = append(out, "warning: "+warn)
			}
		}
	}
	for _, name := range sortedKeys(sr.RelayFlags) {
		out = append(out, fmt.Sprintf("%s flags: %s", name, flagsText(sr.RelayFlags[name])))
	}
	return out
}

// writeTable prints the scenario as a Markdown table, ratios against nginx.
func (sr *ScenarioResult) writeTable(w io.Writer, steady map[string]float64) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s: %s\n", sr.Name, sr.Title)
	fmt.Fprintf(&b, "%s\n\n", sr.about())
	h, rows := sr.table()
	writeMarkdown(&b, h, rows)
	b.WriteString("\n")
	for _, f := range sr.findings(steady) {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

// writeMarkdown writes a Markdown table; the first column is left-aligned,
// the others right-aligned.
func writeMarkdown(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i == 0 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func cacheSplit(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
