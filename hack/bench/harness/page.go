package harness

import (
	"fmt"
	"slices"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// Page is the benchmark as an HTML report: per scenario the latency
// spectrum of every system (all rounds), its throughput and its upstream's
// calls over time (first round) and the table; the memory table; the
// sweep's req/s, p99 and CPU per request against connections and keys,
// with its tables.
func (r *Results) Page(title, subtitle string) *report.Page {
	p := &report.Page{Title: title, Subtitle: subtitle, Generated: r.Finished, Notes: append([]string{
		"Every system runs on 127.0.0.1 with its own stand-in upstream and gets the same load in turn; " +
			"read the ratios against nginx from the same invocation rather than the absolute numbers, which move with the machine's load.",
	}, r.Notes...)}
	steady := r.steadyP99()
	for _, sr := range r.Scenarios {
		p.Sections = append(p.Sections, sr.section(steady))
	}
	if r.Flood != nil {
		p.Sections = append(p.Sections, r.Flood.section())
	}
	if r.Hang != nil {
		p.Sections = append(p.Sections, r.Hang.section(steady))
	}
	if r.Cluster != nil {
		p.Sections = append(p.Sections, r.Cluster.section())
	}
	if r.Lunch != nil {
		p.Sections = append(p.Sections, r.Lunch.section())
	}
	if r.Memory != nil {
		h, rows := r.Memory.table()
		p.Sections = append(p.Sections, report.Section{ID: ScenarioMemory, Title: "memory: " + r.Memory.title(),
			Items:  []string{"relay flags: " + flagsText(r.Memory.RelayFlags)},
			Tables: []report.Table{{Header: h, Rows: rows}}})
	}
	if r.Sweep != nil {
		p.Sections = append(p.Sections, r.Sweep.section())
	}
	return p
}

// runsOf returns a scenario's runs of one system, in round order.
func runsOf(runs []LoadRun, system string) []LoadRun {
	var out []LoadRun
	for _, r := range runs {
		if r.System == system {
			out = append(out, r)
		}
	}
	return out
}

// systemsOf returns the systems of runs in the order they first ran.
func systemsOf(runs []LoadRun) []string {
	var out []string
	for _, r := range runs {
		if !slices.Contains(out, r.System) {
			out = append(out, r.System)
		}
	}
	return out
}

// spectrumOf is a system's latency spectrum over all its runs (their
// histograms merged); runs read back from JSON have no histogram, and then
// the first run's spectrum stands for them.
func spectrumOf(runs []LoadRun) []loadtest.Quantile {
	var merged *hdrhistogram.Histogram
	for _, r := range runs {
		h := r.Report.Histogram()
		if h == nil {
			return runs[0].Report.Spectrum
		}
		if merged == nil {
			merged = hdrhistogram.Import(h.Export())
		} else {
			merged.Merge(h)
		}
	}
	if merged == nil {
		return nil
	}
	return loadtest.SpectrumOf(merged)
}

func (sr *ScenarioResult) section(steady map[string]float64) report.Section {
	var spectrum, throughput, upstream []report.Series
	for _, name := range systemsOf(sr.Runs) {
		runs := runsOf(sr.Runs, name)
		sp := report.Series{Name: name}
		for _, q := range spectrumOf(runs) {
			sp.Points = append(sp.Points, report.Point{X: q.Percentile, Y: q.Millis})
		}
		spectrum = append(spectrum, sp)
		first := runs[0].Report
		throughput = append(throughput, loadchart.Throughput(first, name))
		if ps, ok := first.Probe("upstream calls"); ok {
			upstream = append(upstream, loadchart.Probe(ps, name))
		}
	}
	round := ""
	if sr.Rounds > 1 {
		round = fmt.Sprintf(" (round 1 of %d)", sr.Rounds)
	}
	charts := []report.Chart{
		loadchart.SpectrumChart(sr.Name+"-spectrum", sr.Name+": latency by percentile, all rounds", spectrum...),
		loadchart.RateChart(sr.Name+"-throughput", sr.Name+": throughput over time"+round, "requests per second", nil, throughput...),
	}
	if len(upstream) > 0 {
		c := loadchart.RateChart(sr.Name+"-upstream", sr.Name+": upstream calls over time"+round, "upstream calls per second", nil, upstream...)
		c.Caption = "Calls each system's stand-in answered, read every second from its /-/stats: refreshes at expiry show as steps."
		charts = append(charts, c)
	}
	h, rows := sr.table()
	return report.Section{ID: sr.Name, Title: sr.Name + ": " + sr.Title, Notes: []string{sr.about()}, Items: sr.findings(steady),
		Charts: charts, Tables: []report.Table{{Header: h, Rows: rows}}}
}

// sweepMeasure is one quantity the sweep charts.
type sweepMeasure struct {
	id, title, label string
	scale            report.Scale
	of               func(LoadRun) float64
}

func sweepMeasures() []sweepMeasure {
	return []sweepMeasure{
		{"rps", "req/s", "requests per second", report.Linear, func(r LoadRun) float64 { return r.Report.RequestsPerSecond }},
		{"p99", "p99 latency", "p99 latency (ms)", report.Log, func(r LoadRun) float64 { return r.Report.Latency.P99 }},
		{"cpu", "server CPU per request", "CPU µs per request", report.Linear, func(r LoadRun) float64 { return r.CPUMicrosPerRequest }},
	}
}

// charts are the sweep's charts along one dimension.
func (sw *SweepResult) charts(dim string) []report.Chart {
	pts := sw.rows(dim)
	var ticks []float64
	var systems []string
	for _, pt := range pts {
		ticks = append(ticks, float64(pt.value(dim)))
		for _, name := range systemsOf(pt.Runs) {
			if !slices.Contains(systems, name) {
				systems = append(systems, name)
			}
		}
	}
	label := map[string]string{"connections": "connections", "keys": "distinct keys"}[dim]
	var out []report.Chart
	for _, m := range sweepMeasures() {
		c := report.Chart{ID: "sweep-" + dim + "-" + m.id, Title: m.title + " by " + label, Points: true,
			X: report.Axis{Label: label + " (log scale)", Scale: report.Log, Ticks: ticks},
			Y: report.Axis{Label: m.label, Scale: m.scale, FromZero: m.scale == report.Linear}}
		for _, name := range systems {
			s := report.Series{Name: name}
			for _, pt := range pts {
				for _, r := range pt.Runs {
					if r.System == name {
						s.Points = append(s.Points, report.Point{X: float64(pt.value(dim)), Y: m.of(r)})
					}
				}
			}
			c.Series = append(c.Series, s)
		}
		out = append(out, c)
	}
	return out
}

func (sw *SweepResult) section() report.Section {
	s := report.Section{ID: ScenarioSweep, Title: "sweep: how cost grows with connections and keys",
		Notes: []string{fmt.Sprintf("Every key is asked for once before the runs, so the runs measure hits; the caches hold every key for the whole sweep. One run of %gs per system and point.", sw.DurationSeconds)}}
	for _, name := range sortedKeys(sw.RelayFlags) {
		s.Items = append(s.Items, fmt.Sprintf("%s flags: %s", name, flagsText(sw.RelayFlags[name])))
	}
	for _, dim := range []string{"connections", "keys"} {
		s.Charts = append(s.Charts, sw.charts(dim)...)
		h, rows := sw.table(dim)
		s.Tables = append(s.Tables, report.Table{Caption: "by " + sw.dimTitle(dim), Header: h, Rows: rows})
	}
	for _, pt := range sw.Points {
		if pt.Skipped != "" {
			s.Items = append(s.Items, fmt.Sprintf("c=%d, %d keys: %s", pt.Connections, pt.Keys, pt.Skipped))
		}
	}
	return s
}
