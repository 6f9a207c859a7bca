package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// The flood scenario: one client asks for a new key with every request,
// as fast as it can, while the readers ask for the list and the real
// restaurants. The relay keeps its upstream call budget; nginx has none.
const (
	floodTTL         = 5 * time.Second
	floodConnections = 4 // the flooding client's connections, a browser's worth
	floodLatency     = 50 * time.Millisecond
	floodRate        = 5  // the relay's default --upstream-rate
	floodBurst       = 20 // and --upstream-burst
)

// floodBudget is the relay's call budget in the flood scenario: its
// defaults, written out so that the bound follows the flags it ran with.
func floodBudget() []string {
	return []string{"--upstream-rate=" + strconv.Itoa(floodRate), "--upstream-burst=" + strconv.Itoa(floodBurst)}
}

// floodTargets are the flooding client's requests: a junk restaurant name
// and a query string on the list and on a restaurant, each new every time.
// nginx keys on the whole URI; the relay drops query strings (it runs
// without --forward-query), so only the junk names are new keys to it.
func floodTargets(base string) []loadtest.Target {
	return []loadtest.Target{
		{URL: base + "/restaurant/junk-" + loadtest.PlaceholderSeq, Weight: 1},
		{URL: base + "/restaurant?flood=" + loadtest.PlaceholderSeq, Weight: 1},
		{URL: base + "/restaurant/" + hotID + "?flood=" + loadtest.PlaceholderSeq, Weight: 1},
	}
}

// budgetOf reads the call budget a relay ran with from its flags (the
// last of each wins, as the relay's flag parsing does); ok is false when
// the flags set none.
func budgetOf(flags []string) (rate float64, burst int, ok bool) {
	burst = floodBurst
	for _, f := range flags {
		name, v, has := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if !has {
			continue
		}
		switch name {
		case "upstream-rate":
			if r, err := strconv.ParseFloat(v, 64); err == nil {
				rate, ok = r, r > 0
			}
		case "upstream-burst":
			if b, err := strconv.Atoi(v); err == nil {
				burst = b
			}
		}
	}
	return rate, burst, ok
}

// FloodResult is the flood scenario: each proxy without and with the flood.
type FloodResult struct {
	DurationSeconds  float64    `json:"duration_seconds"`
	TTLSeconds       float64    `json:"ttl_seconds"`
	Connections      int        `json:"connections"`
	FloodConnections int        `json:"flood_connections"`
	Keys             int        `json:"keys"`
	Runs             []FloodRun `json:"runs"`
}

// FloodRun is one system's run, with or without the flood.
type FloodRun struct {
	System string `json:"system"`
	Flood  bool   `json:"flood"`
	// Readers is the readers' run; Flooder the flooding client's (nil
	// without the flood). Both count the answers by X-Cache.
	Readers *loadtest.Report `json:"readers"`
	Flooder *loadtest.Report `json:"flooder,omitempty"`
	// UpstreamCalls is what the system's stand-in served in WindowSeconds,
	// the time from before the first request to after the last answer.
	UpstreamCalls int64   `json:"upstream_calls"`
	WindowSeconds float64 `json:"window_seconds"`
	// BudgetRate and BudgetBurst are the relay's call budget (0: none).
	BudgetRate  float64 `json:"budget_rate,omitempty"`
	BudgetBurst int     `json:"budget_burst,omitempty"`
	// Metrics and Skipped are what the relay's metrics counted during the
	// run: requests of both clients, and upstream calls not made, by reason.
	Metrics *loadtest.MetricsDelta `json:"metrics,omitempty"`
	Skipped map[string]float64     `json:"upstream_skipped,omitempty"`
	Flags   []string               `json:"relay_flags,omitempty"`
}

// Bound is the most upstream calls the budget allows in the run's window:
// the burst, then the rate; -1 without a budget.
func (r *FloodRun) Bound() float64 {
	if r.BudgetRate <= 0 {
		return -1
	}
	return r.BudgetRate*r.WindowSeconds + float64(r.BudgetBurst)
}

// Held reports whether the upstream calls stayed within the bound.
func (r *FloodRun) Held() bool { return r.BudgetRate > 0 && float64(r.UpstreamCalls) <= r.Bound() }

// overBound returns the first one-second reading of the upstream's calls
// above the budget's bound at that time (burst + rate x seconds), if any:
// a token bucket allows no more at any moment, not only at the end.
func (r *FloodRun) overBound() (at float64, calls float64, over bool) {
	ps, ok := r.Readers.Probe("upstream calls")
	if !ok || r.BudgetRate <= 0 || len(ps.Samples) == 0 {
		return 0, 0, false
	}
	first := ps.Samples[0].Value
	for _, s := range ps.Samples {
		if c := s.Value - first; c > float64(r.BudgetBurst)+r.BudgetRate*s.Seconds {
			return s.Seconds, c, true
		}
	}
	return 0, 0, false
}

// label names a run in tables and charts: "relay" or "relay + flood".
func (r *FloodRun) label() string {
	if r.Flood {
		return r.System + " + flood"
	}
	return r.System
}

// runFlood runs each proxy without the flood, then each with it, every
// run on freshly started processes.
func runFlood(ctx context.Context, o Options, systems []string) (*FloodResult, error) {
	fr := &FloodResult{DurationSeconds: o.FloodDuration.Seconds(), TTLSeconds: floodTTL.Seconds(), Connections: o.Connections,
		FloodConnections: floodConnections, Keys: len(allTargets(""))}
	fmt.Fprintf(o.Log, "== %s: %s\n", ScenarioFlood, fr.title())
	for _, flood := range []bool{false, true} {
		for _, name := range systems {
			run, err := floodOnce(ctx, o, name, flood)
			if err != nil {
				return fr, fmt.Errorf("%s (flood %v): %w", name, flood, err)
			}
			fmt.Fprintf(o.Log, "   %-14s %s\n", run.label()+":", run.line())
			fr.Runs = append(fr.Runs, *run)
		}
	}
	return fr, nil
}

func floodOnce(ctx context.Context, o Options, name string, flood bool) (*FloodRun, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	args := relayArgs{ttl: floodTTL, negativeTTL: 5 * time.Second, cacheMB: 64, keys: 200000, flags: floodBudget()}
	s, err := e.startSystem(ctx, name, floodLatency, args, "")
	if err != nil {
		return nil, err
	}
	readers := allTargets(s.base)
	if err := warm(ctx, urlsOf(readers)); err != nil {
		return nil, err
	}
	run := &FloodRun{System: name, Flood: flood, Flags: s.flags}
	if s.metricsURL != "" {
		if rate, burst, ok := budgetOf(s.flags); ok {
			run.BudgetRate, run.BudgetBurst = rate, burst
			// The warm-up took from the budget: let it fill up, so that
			// the flood meets the whole burst.
			if err := sleep(ctx, time.Duration(float64(burst)/rate*float64(time.Second))+200*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	client := metricsClient()
	before, err := s.relayMetrics(ctx, client)
	if err != nil {
		return nil, err
	}
	callsBefore, err := s.upstream.requests(ctx)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	var (
		wg       sync.WaitGroup
		floodErr error
	)
	if flood {
		wg.Go(func() {
			run.Flooder, floodErr = loadtest.Run(ctx, loadtest.Config{Targets: floodTargets(s.base), Connections: floodConnections,
				Duration: o.FloodDuration, Timeout: 10 * time.Second, CountHeader: "X-Cache"})
		})
	}
	rep, err := loadtest.Run(ctx, loadtest.Config{Targets: readers, Connections: o.Connections, Duration: o.FloodDuration,
		Timeout: 10 * time.Second, Probes: []loadtest.Probe{upstreamProbe(s.upstream)}, CountHeader: "X-Cache"})
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if floodErr != nil {
		return nil, fmt.Errorf("the flooding client: %w", floodErr)
	}
	callsAfter, err := s.upstream.requests(ctx)
	if err != nil {
		return nil, err
	}
	run.WindowSeconds = time.Since(began).Seconds()
	run.Readers, run.UpstreamCalls = rep, callsAfter-callsBefore
	if run.Metrics, run.Skipped, err = s.relaySince(ctx, client, before); err != nil {
		return nil, err
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	return run, nil
}

// metricUpstreamSkipped counts the upstream calls the relay did not make, by reason.
const metricUpstreamSkipped = "restaurants_upstream_skipped_total"

// diffByLabel is a counter's increase between two scrapes, by the value of
// one label, leaving out values that did not change.
func diffByLabel(before, after *loadtest.MetricsSample, metric, label string) map[string]float64 {
	b, a := before.ByLabel(metric, label), after.ByLabel(metric, label)
	out := map[string]float64{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// line is the run's numbers for the progress log.
func (r *FloodRun) line() string {
	l := r.Readers.Latency
	s := fmt.Sprintf("readers %6.0f req/s p99 %7.3f ms hit ratio %.4f errors %d; upstream calls %d in %.1f s",
		r.Readers.RequestsPerSecond, l.P99, r.Readers.HeaderShare("HIT"), r.Readers.Errors(), r.UpstreamCalls, r.WindowSeconds)
	if r.BudgetRate > 0 {
		s += fmt.Sprintf(" (bound %.0f)", r.Bound())
	}
	if r.Flooder != nil {
		s += fmt.Sprintf("; flood %.0f req/s %s", r.Flooder.RequestsPerSecond, statusText(r.Flooder.StatusCodes))
	}
	return s
}

// statusText writes answers by status code: "200: 12, 503: 3".
func statusText(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (fr *FloodResult) title() string {
	return fmt.Sprintf("one client asks for a new key with every request (junk names, query strings; %d connections) while %d connections read the list and %d restaurants, TTL %v, %gs, upstream %v",
		fr.FloodConnections, fr.Connections, fr.Keys-1, time.Duration(fr.TTLSeconds*float64(time.Second)), fr.DurationSeconds, floodLatency)
}

// reference is the same system's run without the flood.
func (fr *FloodResult) reference(system string) *FloodRun {
	for i := range fr.Runs {
		if r := &fr.Runs[i]; r.System == system && !r.Flood {
			return r
		}
	}
	return nil
}

// table returns the runs as table rows; the ratios are against the same
// system without the flood.
func (fr *FloodResult) table() (header []string, rows [][]string) {
	header = []string{"system", "readers req/s", "readers p50 ms", "readers p99 ms", "readers p99.9 ms", "readers errors", "readers hit ratio",
		"readers p99 vs no flood", "flood req/s", "flood answers", "upstream calls", "budget bound", "within bound"}
	for i := range fr.Runs {
		r := &fr.Runs[i]
		l := r.Readers.Latency
		vs, floodRPS, floodAnswers := "-", "-", "-"
		if ref := fr.reference(r.System); ref != nil && r.Flood {
			vs = ratio(l.P99, ref.Readers.Latency.P99)
		}
		if r.Flooder != nil {
			floodRPS, floodAnswers = fmt.Sprintf("%.0f", r.Flooder.RequestsPerSecond), statusText(r.Flooder.StatusCodes)
		}
		bound, held := "none", "-"
		if r.BudgetRate > 0 {
			bound, held = fmt.Sprintf("%.0f", r.Bound()), yesNo(r.Held())
		}
		rows = append(rows, []string{r.label(), fmt.Sprintf("%.0f", r.Readers.RequestsPerSecond), fmt.Sprintf("%.3f", l.P50), fmt.Sprintf("%.3f", l.P99),
			fmt.Sprintf("%.3f", l.P999), fmt.Sprint(r.Readers.Errors()), fmt.Sprintf("%.4f", r.Readers.HeaderShare("HIT")), vs,
			floodRPS, floodAnswers, fmt.Sprint(r.UpstreamCalls), bound, held})
	}
	return header, rows
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// findings say what the runs show: the bound and whether it held, the
// readers with and without the flood, what nginx paid.
func (fr *FloodResult) findings() []string {
	var out []string
	for i := range fr.Runs {
		r := &fr.Runs[i]
		if !r.Flood {
			continue
		}
		ref := fr.reference(r.System)
		if r.BudgetRate > 0 {
			out = append(out, fmt.Sprintf("%s: %d upstream calls in %.1f s with the flood; the budget's bound is %g/s x %.1f s + %d = %.0f: %s",
				r.System, r.UpstreamCalls, r.WindowSeconds, r.BudgetRate, r.WindowSeconds, r.BudgetBurst, r.Bound(), heldText(r.Held())))
			if at, calls, over := r.overBound(); over {
				out = append(out, fmt.Sprintf("%s: but %.0f calls by %.1f s, over that time's bound of %.0f", r.System, calls, at, float64(r.BudgetBurst)+r.BudgetRate*at))
			} else {
				out = append(out, fmt.Sprintf("%s: within burst + rate x time at every one-second reading of the stand-in's count too", r.System))
			}
		} else {
			line := fmt.Sprintf("%s: no call budget; the flood cost %d upstream calls in %.1f s", r.System, r.UpstreamCalls, r.WindowSeconds)
			if ref != nil {
				line += fmt.Sprintf(" (%d without it)", ref.UpstreamCalls)
			}
			out = append(out, line)
		}
		if ref != nil {
			out = append(out, fmt.Sprintf("%s readers: hit ratio %.4f with the flood, %.4f without; p99 %.3f ms with, %.3f ms without (%s x); %d errors with, %d without; X-Cache with the flood %s, without %s",
				r.System, r.Readers.HeaderShare("HIT"), ref.Readers.HeaderShare("HIT"), r.Readers.Latency.P99, ref.Readers.Latency.P99,
				ratio(r.Readers.Latency.P99, ref.Readers.Latency.P99), r.Readers.Errors(), ref.Readers.Errors(),
				statusText(r.Readers.HeaderValues), statusText(ref.Readers.HeaderValues)))
		}
		if r.Flooder != nil {
			out = append(out, fmt.Sprintf("%s: the flooding client got %s (X-Cache %s)", r.System, statusText(r.Flooder.StatusCodes), statusText(r.Flooder.HeaderValues)))
		}
		if len(r.Skipped) > 0 {
			out = append(out, fmt.Sprintf("%s metrics: upstream calls not made %s", r.System, cacheSplit(r.Skipped)))
		}
	}
	for i := range fr.Runs {
		if r := &fr.Runs[i]; r.Metrics != nil {
			out = append(out, fmt.Sprintf("%s metrics (both clients): %.0f requests, by cache %s, upstream calls %.0f %s",
				r.label(), r.Metrics.Requests, cacheSplit(r.Metrics.RequestsByCache), r.Metrics.UpstreamCalls, cacheSplit(r.Metrics.UpstreamByOutcome)))
		}
	}
	for i := range fr.Runs {
		if r := &fr.Runs[i]; r.Flags != nil && !r.Flood {
			out = append(out, fmt.Sprintf("%s flags: %s", r.System, flagsText(r.Flags)))
		}
	}
	return out
}

func heldText(ok bool) string {
	if ok {
		return "held"
	}
	return "NOT held"
}

// writeTable prints the scenario as Markdown.
func (fr *FloodResult) writeTable(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s: %s\n", ScenarioFlood, fr.title())
	fmt.Fprintf(&b, "%s\n\n", fr.about())
	h, rows := fr.table()
	writeMarkdown(&b, h, rows)
	b.WriteString("\n")
	for _, f := range fr.findings() {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

func (fr *FloodResult) about() string {
	return "One run per system without the flood, then one with it, each on fresh processes with every key cached first " +
		"(and the relay's budget full again). Readers' hit ratio: the share of their answers with X-Cache: HIT. " +
		"Upstream calls: what the system's stand-in served from before the first request to after the last answer."
}

// cumulative is a counter probe's increase since its first sample, over
// the run's time.
func cumulative(ps loadtest.ProbeSeries, name string) report.Series {
	s := report.Series{Name: name}
	if len(ps.Samples) == 0 {
		return s
	}
	first := ps.Samples[0].Value
	for _, v := range ps.Samples {
		s.Points = append(s.Points, report.Point{X: v.Seconds, Y: v.Value - first})
	}
	return s
}

// section is the scenario in the report: the upstream calls against the
// budget's bound, the readers' latency and throughput, the table.
func (fr *FloodResult) section() report.Section {
	var calls, spectrum, throughput []report.Series
	for i := range fr.Runs {
		r := &fr.Runs[i]
		if ps, ok := r.Readers.Probe("upstream calls"); ok {
			calls = append(calls, cumulative(ps, r.label()))
		}
		spectrum = append(spectrum, loadchart.Spectrum(r.Readers, r.label()))
		throughput = append(throughput, loadchart.Throughput(r.Readers, r.label()))
	}
	for i := range fr.Runs {
		if r := &fr.Runs[i]; r.Flood && r.BudgetRate > 0 {
			calls = append(calls, report.Series{Name: r.System + ": budget bound", Points: []report.Point{
				{X: 0, Y: float64(r.BudgetBurst)}, {X: r.WindowSeconds, Y: r.Bound()}}})
		}
	}
	upstream := loadchart.TimeChart(ScenarioFlood+"-upstream", ScenarioFlood+": upstream calls since the start", "upstream calls (log scale)", nil, calls...)
	upstream.Y = report.Axis{Label: "upstream calls (log scale)", Scale: report.Log}
	upstream.Caption = "Each stand-in's /-/stats, read every second; the bound is the relay's burst plus its rate times the time."
	h, rows := fr.table()
	return report.Section{ID: ScenarioFlood, Title: ScenarioFlood + ": " + fr.title(), Notes: []string{fr.about()}, Items: fr.findings(),
		Charts: []report.Chart{
			upstream,
			loadchart.SpectrumChart(ScenarioFlood+"-spectrum", ScenarioFlood+": the readers' latency by percentile", spectrum...),
			loadchart.RateChart(ScenarioFlood+"-throughput", ScenarioFlood+": the readers' throughput over time", "requests per second", nil, throughput...),
		},
		Tables: []report.Table{{Header: h, Rows: rows}}}
}
