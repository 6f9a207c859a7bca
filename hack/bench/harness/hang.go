package harness

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// The hang scenario: under load, the upstream stops answering for a while
// (the stand-in's slow mode, its delay longer than the proxies' upstream
// timeout). Every key has a copy, past the TTL and stale-while-revalidate
// within seconds and inside stale-if-error: a good copy sits in memory,
// and no client should wait for the upstream.
const (
	hangTTL       = 2 * time.Second
	hangSWR       = time.Second
	hangTimeout   = 5 * time.Second  // the proxies' upstream timeout
	hangSlowDelay = 30 * time.Second // the stand-in's delay: longer than the hang, so no slow answer arrives in it
	hangLatency   = 50 * time.Millisecond
	hangWarmLoad  = 2 * time.Second // unmeasured load before the steady phase, to settle the process
	hangSteady    = 5 * time.Second
	hangRecovery  = 5 * time.Second
	// hangP99Factor is the goal: the p99 of keys with a copy during the
	// hang at most this many times the steady p99.
	hangP99Factor = 2
	// hangRSSSlack is "a few MiB": the most the relay's RSS may grow over
	// its steady state while the upstream hangs.
	hangRSSSlack = 5 << 20
	// hangWait is how long an answer must take to count as a wait for the
	// upstream: a closed loop's percentiles hide such waits, as a
	// connection that waits sends nothing meanwhile.
	hangWait = time.Second
)

// hangPlan is the hang scenario's schedule and settings.
type hangPlan struct {
	ttl, swr, timeout, slowDelay  time.Duration
	warmLoad, steady, hang, after time.Duration
}

// hangPlan is the scenario as make bench runs it: the upstream hangs for
// o.HangDuration.
func (o Options) hangPlan() hangPlan {
	return hangPlan{ttl: hangTTL, swr: hangSWR, timeout: hangTimeout, slowDelay: hangSlowDelay,
		warmLoad: hangWarmLoad, steady: hangSteady, hang: o.HangDuration, after: hangRecovery}
}

// flags are the relay's flags in the hang scenario: the short windows
// (stale-if-error keeps its default of minutes), no call budget (nginx has none).
func (p hangPlan) flags() []string {
	return []string{"--stale-while-revalidate=" + p.swr.String(), "--upstream-rate=0"}
}

// Phases of the hang scenario.
const (
	phaseSteady   = "steady"
	phaseHang     = "hang"
	phaseRecovery = "recovery"
)

// HangResult is the hang scenario, for each proxy.
type HangResult struct {
	TTLSeconds             float64   `json:"ttl_seconds"`
	SWRSeconds             float64   `json:"stale_while_revalidate_seconds"`
	UpstreamTimeoutSeconds float64   `json:"upstream_timeout_seconds"`
	SlowDelaySeconds       float64   `json:"slow_delay_seconds"`
	WarmLoadSeconds        float64   `json:"warm_load_seconds"`
	SteadySeconds          float64   `json:"steady_seconds"`
	HangSeconds            float64   `json:"hang_seconds"`
	RecoverySeconds        float64   `json:"recovery_seconds"`
	Connections            int       `json:"connections"`
	Keys                   int       `json:"keys"`
	Runs                   []HangRun `json:"runs"`
}

// HangRun is one system through the three phases.
type HangRun struct {
	System string      `json:"system"`
	Phases []HangPhase `json:"phases"`
	// RSS is the server's resident memory (nginx: master and workers),
	// read every second from the start of the steady phase.
	RSS   []RSSSample `json:"rss"`
	Flags []string    `json:"relay_flags,omitempty"`
}

// HangPhase is one phase's load run.
type HangPhase struct {
	Name string `json:"name"`
	// StartSeconds is when the phase began, on the RSS samples' time axis.
	StartSeconds  float64                `json:"start_seconds"`
	Report        *loadtest.Report       `json:"report"`
	UpstreamCalls int64                  `json:"upstream_calls"`
	Metrics       *loadtest.MetricsDelta `json:"metrics,omitempty"`
	Skipped       map[string]float64     `json:"upstream_skipped,omitempty"`
	// Waits counts the answers that took hangWait or longer, and
	// WaitShare is the share of the connections' time they took.
	Waits     int64   `json:"waits"`
	WaitShare float64 `json:"wait_share"`
}

// waitsOf counts a run's answers that took at least d, and the share of
// its connections' time they held.
func waitsOf(rep *loadtest.Report, d time.Duration) (n int64, share float64) {
	h := rep.Histogram()
	if h == nil || rep.ElapsedSeconds <= 0 || rep.Connections <= 0 {
		return 0, 0
	}
	var us float64
	for _, b := range h.Distribution() {
		if b.Count > 0 && b.From >= d.Microseconds() {
			n += b.Count
			us += float64(b.Count) * float64(b.From+b.To) / 2
		}
	}
	return n, us / 1e6 / (rep.ElapsedSeconds * float64(rep.Connections))
}

// phase returns the run's phase of that name (nil when missing).
func (r *HangRun) phase(name string) *HangPhase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// P99Ratio is the hang's p99 over the steady p99.
func (r *HangRun) P99Ratio() float64 {
	s, h := r.phase(phaseSteady), r.phase(phaseHang)
	if s == nil || h == nil || s.Report.Latency.P99 <= 0 {
		return 0
	}
	return h.Report.Latency.P99 / s.Report.Latency.P99
}

// RSSSteady is the largest RSS reading before the hang, RSSPeak the
// largest from its start to the end.
func (r *HangRun) RSSSteady() int64 {
	if h := r.phase(phaseHang); h != nil {
		return peakRSS(r.RSS, -1, h.StartSeconds)
	}
	return 0
}

// RSSPeak is the largest RSS reading from the hang's start to the end.
func (r *HangRun) RSSPeak() int64 {
	if h := r.phase(phaseHang); h != nil {
		return peakRSS(r.RSS, h.StartSeconds, 1e18)
	}
	return 0
}

// runHang runs the hang scenario against each system in turn, each on
// freshly started processes.
func runHang(ctx context.Context, o Options, systems []string) (*HangResult, error) {
	plan := o.hangPlan()
	hr := &HangResult{TTLSeconds: plan.ttl.Seconds(), SWRSeconds: plan.swr.Seconds(), UpstreamTimeoutSeconds: plan.timeout.Seconds(),
		SlowDelaySeconds: plan.slowDelay.Seconds(), SteadySeconds: plan.steady.Seconds(), HangSeconds: plan.hang.Seconds(),
		RecoverySeconds: plan.after.Seconds(), WarmLoadSeconds: plan.warmLoad.Seconds(), Connections: o.Connections, Keys: len(allTargets(""))}
	fmt.Fprintf(o.Log, "== %s: %s\n", ScenarioHang, hr.title())
	for _, name := range systems {
		run, err := hangOnce(ctx, o, name, plan)
		if err != nil {
			return hr, fmt.Errorf("%s: %w", name, err)
		}
		hr.Runs = append(hr.Runs, *run)
	}
	return hr, nil
}

func hangOnce(ctx context.Context, o Options, name string, plan hangPlan) (*HangRun, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	up, err := e.startStandIn(ctx, "menu-api-hang-"+strings.ReplaceAll(name, " ", "-"), hangLatency, "--slow-delay", plan.slowDelay.String())
	if err != nil {
		return nil, err
	}
	args := relayArgs{ttl: plan.ttl, negativeTTL: 5 * time.Second, cacheMB: 64, keys: 1000, upstreamTimeout: plan.timeout, flags: plan.flags()}
	var s *system
	if name == SystemNginx {
		s, err = e.startNginx(ctx, up, args)
	} else {
		s, err = e.startRelay(ctx, up, args, e.variant(name))
	}
	if err != nil {
		return nil, err
	}
	targets := allTargets(s.base)
	if err := warm(ctx, urlsOf(targets)); err != nil {
		return nil, err
	}
	if _, err := loadtest.Run(ctx, loadtest.Config{Targets: targets, Connections: o.Connections, Duration: plan.warmLoad}); err != nil {
		return nil, err
	}
	pid := s.pid
	sampler := sampleRSS(func() (int64, error) { return treeRSS(pid) }, time.Second)
	run := &HangRun{System: name, Flags: s.flags}
	phases := []struct {
		name  string
		fault string // the stand-in's mode during the phase
		d     time.Duration
	}{{phaseSteady, "none", plan.steady}, {phaseHang, "slow", plan.hang}, {phaseRecovery, "none", plan.after}}
	for _, ph := range phases {
		if err := up.setFault(ctx, ph.fault); err != nil {
			_, _ = sampler.finish()
			return nil, err
		}
		p, err := hangPhase(ctx, o, s, ph.name, ph.d)
		if err != nil {
			_, _ = sampler.finish()
			return nil, fmt.Errorf("%s phase: %w", ph.name, err)
		}
		p.StartSeconds = sampler.at(p.Report.Started)
		run.Phases = append(run.Phases, *p)
	}
	if run.RSS, err = sampler.finish(); err != nil {
		return nil, err
	}
	if err := s.alive(); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "   %-14s %s\n", name+":", run.line())
	return run, nil
}

// hangPhase runs one phase's load, counting the upstream's calls and,
// for a relay, what its metrics counted.
func hangPhase(ctx context.Context, o Options, s *system, name string, d time.Duration) (*HangPhase, error) {
	client := metricsClient()
	before, err := s.relayMetrics(ctx, client)
	if err != nil {
		return nil, err
	}
	callsBefore, err := s.upstream.requests(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := loadtest.Run(ctx, loadtest.Config{Targets: allTargets(s.base), Connections: o.Connections, Duration: d,
		Timeout: 30 * time.Second, Probes: []loadtest.Probe{upstreamProbe(s.upstream)}, CountHeader: "X-Cache"})
	if err != nil {
		return nil, err
	}
	callsAfter, err := s.upstream.requests(ctx)
	if err != nil {
		return nil, err
	}
	p := &HangPhase{Name: name, Report: rep, UpstreamCalls: callsAfter - callsBefore}
	p.Waits, p.WaitShare = waitsOf(rep, hangWait)
	if p.Metrics, p.Skipped, err = s.relaySince(ctx, client, before); err != nil {
		return nil, err
	}
	return p, nil
}

// line is the run's numbers for the progress log.
func (r *HangRun) line() string {
	var b strings.Builder
	for _, p := range r.Phases {
		l := p.Report.Latency
		fmt.Fprintf(&b, "%s %.0f req/s p99 %.3f max %.1f ms errors %d calls %d; ", p.Name, p.Report.RequestsPerSecond, l.P99, l.Max, p.Report.Errors(), p.UpstreamCalls)
	}
	fmt.Fprintf(&b, "p99 hang/steady %.2f; RSS steady %.1f peak %.1f MiB", r.P99Ratio(), mib(r.RSSSteady()), mib(r.RSSPeak()))
	return b.String()
}

func (hr *HangResult) title() string {
	return fmt.Sprintf("the upstream hangs for %gs under load (c=%d, the list + %d restaurants, every key with a copy), TTL %gs, stale-while-revalidate %gs, upstream timeout %gs",
		hr.HangSeconds, hr.Connections, hr.Keys-1, hr.TTLSeconds, hr.SWRSeconds, hr.UpstreamTimeoutSeconds)
}

func (hr *HangResult) about() string {
	return fmt.Sprintf("Per system: every key cached, %v of unmeasured load, then %gs steady, %gs with the stand-in in slow mode "+
		"(each answer %gs late, so every upstream call times out; the copies are past the TTL and stale-while-revalidate within %gs, inside stale-if-error), "+
		"and %gs after it answers again. Each phase is a run of its own; RSS (VmRSS, nginx: master and workers) is read every second. "+
		"nginx: proxy_cache_use_stale updating error timeout with proxy_cache_background_update, proxy_read_timeout %gs.",
		time.Duration(hr.WarmLoadSeconds*float64(time.Second)), hr.SteadySeconds, hr.HangSeconds, hr.SlowDelaySeconds, hr.TTLSeconds+hr.SWRSeconds, hr.RecoverySeconds, hr.UpstreamTimeoutSeconds)
}

// table returns the runs as table rows: the hang against the steady phase
// of the same run.
func (hr *HangResult) table() (header []string, rows [][]string) {
	header = []string{"system", "steady req/s", "steady p99 ms", "hang req/s", "hang p50 ms", "hang p99 ms", "hang p99.9 ms", "hang max ms",
		"hang p99 / steady p99", "within 2 x", "hang answers >= 1 s", "their share of the time", "hang errors", "upstream calls steady/hang/after", "RSS steady MiB", "RSS peak MiB", "peak - steady MiB"}
	for i := range hr.Runs {
		r := &hr.Runs[i]
		s, h, a := r.phase(phaseSteady), r.phase(phaseHang), r.phase(phaseRecovery)
		if s == nil || h == nil || a == nil {
			continue
		}
		l := h.Report.Latency
		rows = append(rows, []string{r.System, fmt.Sprintf("%.0f", s.Report.RequestsPerSecond), fmt.Sprintf("%.3f", s.Report.Latency.P99),
			fmt.Sprintf("%.0f", h.Report.RequestsPerSecond), fmt.Sprintf("%.3f", l.P50), fmt.Sprintf("%.3f", l.P99), fmt.Sprintf("%.3f", l.P999),
			fmt.Sprintf("%.1f", l.Max), fmt.Sprintf("%.2f", r.P99Ratio()), yesNo(r.P99Ratio() <= hangP99Factor),
			fmt.Sprint(h.Waits), fmt.Sprintf("%.1f %%", 100*h.WaitShare), fmt.Sprint(h.Report.Errors()),
			fmt.Sprintf("%d / %d / %d", s.UpstreamCalls, h.UpstreamCalls, a.UpstreamCalls),
			fmt.Sprintf("%.1f", mib(r.RSSSteady())), fmt.Sprintf("%.1f", mib(r.RSSPeak())), fmt.Sprintf("%.1f", mib(r.RSSPeak()-r.RSSSteady()))})
	}
	return header, rows
}

// findings say whether the goals held: the p99 of keys with a copy, and
// the relay's memory; what the caches answered during the hang; against
// the hot-key scenario's p99 when it ran.
func (hr *HangResult) findings(hot map[string]float64) []string {
	var out []string
	for i := range hr.Runs {
		r := &hr.Runs[i]
		s, h := r.phase(phaseSteady), r.phase(phaseHang)
		if s == nil || h == nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s: p99 during the hang %.3f ms = %.2f x the steady p99 of the same run (%.3f ms), goal at most %d x: %s; max %.1f ms",
			r.System, h.Report.Latency.P99, r.P99Ratio(), s.Report.Latency.P99, hangP99Factor, heldText(r.P99Ratio() <= hangP99Factor), h.Report.Latency.Max))
		out = append(out, fmt.Sprintf("%s: %d answers during the hang took %v or more, holding %.1f %% of the %d connections' time (a closed loop's percentiles hide them: a waiting connection sends nothing)",
			r.System, h.Waits, hangWait, 100*h.WaitShare, hr.Connections))
		if p := hot[r.System]; p > 0 {
			out = append(out, fmt.Sprintf("%s: p99 during the hang = %.2f x the hot-key scenario's p99 (%.3f ms)", r.System, h.Report.Latency.P99/p, p))
		}
		grow := r.RSSPeak() - r.RSSSteady()
		line := fmt.Sprintf("%s: RSS %.1f MiB steady, %.1f MiB at its peak from the hang on (%+.1f MiB)", r.System, mib(r.RSSSteady()), mib(r.RSSPeak()), mib(grow))
		if r.System != SystemNginx {
			line += fmt.Sprintf(", goal within %d MiB: %s", hangRSSSlack>>20, heldText(grow <= hangRSSSlack))
		}
		out = append(out, line)
		out = append(out, fmt.Sprintf("%s during the hang: %d answers, X-Cache %s, status %s, %d upstream calls", r.System, h.Report.Requests,
			statusText(h.Report.HeaderValues), statusText(h.Report.StatusCodes), h.UpstreamCalls))
		if m := h.Metrics; m != nil {
			out = append(out, fmt.Sprintf("%s metrics during the hang: by cache %s, stale served %s, upstream calls %s, not made %s",
				r.System, cacheSplit(m.RequestsByCache), cacheSplit(m.StaleByReason), cacheSplit(m.UpstreamByOutcome), cacheSplit(h.Skipped)))
		}
		if r.Flags != nil {
			out = append(out, fmt.Sprintf("%s flags: %s", r.System, flagsText(r.Flags)))
		}
	}
	return out
}

// writeTable prints the scenario as Markdown.
func (hr *HangResult) writeTable(w io.Writer, hot map[string]float64) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s: %s\n", ScenarioHang, hr.title())
	fmt.Fprintf(&b, "%s\n\n", hr.about())
	h, rows := hr.table()
	writeMarkdown(&b, h, rows)
	b.WriteString("\n")
	for _, f := range hr.findings(hot) {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

// shifted is a series moved along the time axis by dx seconds.
func shifted(s report.Series, dx float64) report.Series {
	out := report.Series{Name: s.Name, Points: make([]report.Point, len(s.Points))}
	for i, p := range s.Points {
		out.Points[i] = report.Point{X: p.X + dx, Y: p.Y}
	}
	return out
}

// joined is one series of each phase's, on the run's time axis.
func (r *HangRun) joined(of func(*loadtest.Report) report.Series) report.Series {
	s := report.Series{Name: r.System}
	for _, p := range r.Phases {
		s.Points = append(s.Points, shifted(of(p.Report), p.StartSeconds).Points...)
	}
	return s
}

// section is the scenario in the report: p99, throughput, upstream calls
// and RSS over time with the hang marked, the spectra, the table.
func (hr *HangResult) section(hot map[string]float64) report.Section {
	var p99, throughput, calls, rss, spectrum []report.Series
	var marks []report.Mark
	for i := range hr.Runs {
		r := &hr.Runs[i]
		p99 = append(p99, r.joined(func(rep *loadtest.Report) report.Series { return loadchart.Latency(rep, "", "p99") }))
		throughput = append(throughput, r.joined(func(rep *loadtest.Report) report.Series { return loadchart.Throughput(rep, "") }))
		calls = append(calls, r.joined(func(rep *loadtest.Report) report.Series {
			ps, _ := rep.Probe("upstream calls")
			return loadchart.Probe(ps, "")
		}))
		m := report.Series{Name: r.System}
		for _, v := range r.RSS {
			m.Points = append(m.Points, report.Point{X: v.Seconds, Y: mib(v.Bytes)})
		}
		rss = append(rss, m)
		for _, name := range []string{phaseSteady, phaseHang} {
			if p := r.phase(name); p != nil {
				spectrum = append(spectrum, loadchart.Spectrum(p.Report, r.System+", "+name))
			}
		}
		if i == 0 {
			if h, a := r.phase(phaseHang), r.phase(phaseRecovery); h != nil && a != nil {
				marks = []report.Mark{{X: h.StartSeconds, Label: "hang starts"}, {X: a.StartSeconds, Label: "hang ends"}}
			}
		}
	}
	latency := loadchart.TimeChart(ScenarioHang+"-p99", ScenarioHang+": p99 latency second by second", "p99 latency (ms, log scale)", marks, p99...)
	latency.Y.Scale, latency.Y.FromZero = report.Log, false
	memory := loadchart.TimeChart(ScenarioHang+"-rss", ScenarioHang+": resident memory (VmRSS)", "RSS (MiB)", marks, rss...)
	memory.Caption = "Read every second from /proc/PID/status; nginx: its master and workers."
	up := loadchart.RateChart(ScenarioHang+"-upstream", ScenarioHang+": upstream calls over time", "upstream calls per second", marks, calls...)
	h, rows := hr.table()
	return report.Section{ID: ScenarioHang, Title: ScenarioHang + ": " + hr.title(), Notes: []string{hr.about(),
		"The time axis starts with the steady phase; the marks are the first run's (the systems ran one after the other, each on the same schedule)."},
		Items: hr.findings(hot),
		Charts: []report.Chart{latency,
			loadchart.RateChart(ScenarioHang+"-throughput", ScenarioHang+": throughput over time", "requests per second", marks, throughput...),
			memory, up,
			loadchart.SpectrumChart(ScenarioHang+"-spectrum", ScenarioHang+": latency by percentile, steady and during the hang", spectrum...)},
		Tables: []report.Table{{Header: h, Rows: rows}}}
}
