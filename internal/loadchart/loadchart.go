// Package loadchart draws load runs (loadtest Reports) as report charts
// and pages: the latency spectrum, throughput, latency and errors over
// time, and what the run's probes read (upstream calls, replicas). The
// loadtest command's --report, `make bench` and the kind e2e build their
// pages from these.
package loadchart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// Spectrum is the run's latency spectrum (ms by percentile) as a chart
// series named name.
func Spectrum(r *loadtest.Report, name string) report.Series {
	s := report.Series{Name: name}
	for _, q := range r.Spectrum {
		s.Points = append(s.Points, report.Point{X: q.Percentile, Y: q.Millis})
	}
	return s
}

// buckets returns the timeline's buckets that are not a sliver: the last
// bucket is left out when it is shorter than half an interval, where a few
// requests would read as a wild rate.
func buckets(r *loadtest.Report) []loadtest.Bucket {
	if r.Timeline == nil {
		return nil
	}
	bs := r.Timeline.Buckets
	if n := len(bs); n > 1 && bs[n-1].Seconds < r.Timeline.IntervalSeconds/2 {
		bs = bs[:n-1]
	}
	return bs
}

// Throughput is requests per second over the run, one point at the
// end of each timeline interval.
func Throughput(r *loadtest.Report, name string) report.Series {
	s := report.Series{Name: name}
	for i, b := range buckets(r) {
		if i == 0 {
			s.Points = append(s.Points, report.Point{X: b.StartSeconds, Y: b.RequestsPerSecond()})
		}
		s.Points = append(s.Points, report.Point{X: b.StartSeconds + b.Seconds, Y: b.RequestsPerSecond()})
	}
	return s
}

// Errors is transport errors and 5xx answers per second over the run.
func Errors(r *loadtest.Report, name string) report.Series {
	s := report.Series{Name: name}
	for i, b := range buckets(r) {
		y := 0.0
		if b.Seconds > 0 {
			y = float64(b.Errors()) / b.Seconds
		}
		if i == 0 {
			s.Points = append(s.Points, report.Point{X: b.StartSeconds, Y: y})
		}
		s.Points = append(s.Points, report.Point{X: b.StartSeconds + b.Seconds, Y: y})
	}
	return s
}

// Latency is a per-interval latency over the run: "p50", "p99" or
// "max"; intervals in which nothing finished have no point.
func Latency(r *loadtest.Report, name, which string) report.Series {
	s := report.Series{Name: name}
	for _, b := range buckets(r) {
		if b.Requests == 0 {
			continue
		}
		y := b.P99
		switch which {
		case "p50":
			y = b.P50
		case "max":
			y = b.Max
		}
		s.Points = append(s.Points, report.Point{X: b.StartSeconds + b.Seconds, Y: y})
	}
	return s
}

// Probe is a probe's reading over the run as a chart series: for a
// counter its increase per second between samples (drawn as steps, from
// the first sample), otherwise its values.
func Probe(p loadtest.ProbeSeries, name string) report.Series {
	s := report.Series{Name: name}
	if !p.Counter {
		for _, v := range p.Samples {
			s.Points = append(s.Points, report.Point{X: v.Seconds, Y: v.Value})
		}
		return s
	}
	for i, v := range p.Increases() {
		if i == 0 {
			s.Points = append(s.Points, report.Point{X: p.Samples[0].Seconds, Y: v.Value})
		}
		s.Points = append(s.Points, report.Point{X: v.Seconds, Y: v.Value})
	}
	return s
}

// SpectrumChart is a latency spectrum chart: ms on a log scale against the
// percentile on HdrHistogram's axis.
func SpectrumChart(id, title string, series ...report.Series) report.Chart {
	return report.Chart{ID: id, Title: title, Series: series,
		X: report.Axis{Label: "percentile", Scale: report.Percentile},
		Y: report.Axis{Label: "latency (ms)", Scale: report.Log}}
}

// TimeChart is a chart of something over a run's time, from 0.
func TimeChart(id, title, yLabel string, marks []report.Mark, series ...report.Series) report.Chart {
	return report.Chart{ID: id, Title: title, Series: series, Marks: marks,
		X: report.Axis{Label: "time (s)", FromZero: true},
		Y: report.Axis{Label: yLabel, FromZero: true}}
}

// RateChart is a TimeChart of counts per interval (requests, errors,
// upstream calls per second), drawn as steps.
func RateChart(id, title, yLabel string, marks []report.Mark, series ...report.Series) report.Chart {
	c := TimeChart(id, title, yLabel, marks, series...)
	c.Steps = true
	return c
}

// ProbeYLabel is the y axis label of a probe's chart.
func ProbeYLabel(p loadtest.ProbeSeries) string {
	if p.Counter {
		return p.Name + " per second"
	}
	return p.Name
}

// Charts returns the charts of one run: the latency spectrum, throughput,
// latency and errors over time, and one chart per probe that read
// anything. IDs start with prefix; marks (events, in seconds from the
// run's start: Report.At) are drawn on every time axis.
func Charts(r *loadtest.Report, prefix string, marks []report.Mark) []report.Chart {
	id := func(s string) string { return prefix + "-" + s }
	latency := TimeChart(id("latency"), "latency over time", "latency (ms)", marks,
		Latency(r, "p50", "p50"), Latency(r, "p99", "p99"), Latency(r, "max", "max"))
	latency.Y.Scale = report.Log
	charts := []report.Chart{
		SpectrumChart(id("spectrum"), "latency by percentile", Spectrum(r, "latency")),
		RateChart(id("throughput"), "throughput over time", "requests per second", marks, Throughput(r, "req/s")),
		latency,
		RateChart(id("errors"), "errors over time (transport errors and 5xx)", "errors per second", marks, Errors(r, "errors/s")),
	}
	for i, p := range r.Probes {
		if len(Probe(p, p.Name).Points) == 0 {
			continue // a probe that never read: said in the table
		}
		c := TimeChart(id(fmt.Sprintf("probe-%d", i+1)), p.Name+" over time", ProbeYLabel(p), marks, Probe(p, p.Name))
		c.Steps = p.Counter
		charts = append(charts, c)
	}
	return charts
}

// Summary is the run's numbers as a table.
func Summary(r *loadtest.Report) report.Table {
	l := r.Latency
	rows := [][]string{
		{"mode", r.Mode},
		{"connections", report.Number(float64(r.Connections))},
		{"requests", report.Number(float64(r.Requests))},
		{"elapsed s", fmt.Sprintf("%.3f", r.ElapsedSeconds)},
		{"requests per second", report.Number(r.RequestsPerSecond)},
		{"latency p50 / p90 / p99 / p99.9 / max ms", fmt.Sprintf("%.3f / %.3f / %.3f / %.3f / %.3f", l.P50, l.P90, l.P99, l.P999, l.Max)},
		{"transport errors", report.Number(float64(r.TransportErrors))},
		{"5xx answers", report.Number(float64(r.ServerErrors))},
	}
	if r.Mode == "open" {
		rows = append(rows, []string{"intended rate", report.Number(r.Rate)}, []string{"missed", report.Number(float64(r.Missed))})
	}
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(r.StatusCodes)) {
		codes = append(codes, fmt.Sprintf("%s: %d", c, r.StatusCodes[c]))
	}
	rows = append(rows, []string{"status codes", strings.Join(codes, ", ")})
	for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		rows = append(rows, []string{"error: " + k, report.Number(float64(r.ErrorKinds[k]))})
	}
	for _, p := range r.Probes {
		v := fmt.Sprintf("%d samples", len(p.Samples))
		if p.Counter {
			v += ", increase " + report.Number(p.Total())
		}
		if p.Failures > 0 {
			v += fmt.Sprintf(", %d failed reads (last: %s)", p.Failures, p.LastError)
		}
		rows = append(rows, []string{"probe: " + p.Name, v})
	}
	if m := r.Metrics; m != nil {
		rows = append(rows,
			[]string{"relay: upstream calls", report.Number(m.UpstreamCalls)},
			[]string{"relay: hit ratio", fmt.Sprintf("%.4f", m.HitRatio)},
			[]string{"relay: stale served", report.Number(m.StaleServed)},
			[]string{"relay: coalesced waits", report.Number(m.CoalescedWaits)})
		for _, w := range m.Warnings {
			rows = append(rows, []string{"relay metrics warning", w})
		}
	}
	return report.Table{Caption: "the run", Header: []string{"", "value"}, Rows: rows}
}

// Page is the report of one run: its charts (with marks) and its numbers.
func Page(r *loadtest.Report, title string, marks []report.Mark) *report.Page {
	return &report.Page{
		Title: title,
		Subtitle: fmt.Sprintf("%s loop, %d connections, %s, started %s", r.Mode, r.Connections,
			time.Duration(r.DurationSeconds*float64(time.Second)).Round(time.Millisecond), r.Started.UTC().Format(time.RFC3339)),
		Sections: []report.Section{{ID: "run", Title: "the run", Charts: Charts(r, "run", marks), Tables: []report.Table{Summary(r)}}},
	}
}

// WriteRunPage writes the page of one run to path: the loadtest command's
// --report.
func WriteRunPage(path, title string, r *loadtest.Report) error {
	return Page(r, title, nil).WriteFile(path)
}
