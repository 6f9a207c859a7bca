//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
	"github.com/scilifelab/restaurants/internal/report/reporttest"
)

// chartReportPath is where the HTML report goes: RESTAURANTS_E2E_REPORT,
// else beside the Markdown summary (RESTAURANTS_E2E_SUMMARY, .md -> .html),
// else the test's artifact directory (kept with go test -artifacts).
func chartReportPath(t *testing.T) string {
	if p := os.Getenv("RESTAURANTS_E2E_REPORT"); p != "" {
		return p
	}
	if s := os.Getenv("RESTAURANTS_E2E_SUMMARY"); s != "" {
		return strings.TrimSuffix(s, filepath.Ext(s)) + ".html"
	}
	return filepath.Join(t.ArtifactDir(), "kind-e2e.html")
}

// chartReport is the e2e's HTML report: a section per load stage (the
// charts of its Job's run with the stage's events marked), the shared
// tier's comparison, and the summary tables.
type chartReport struct {
	path     string
	title    string
	subtitle string
	sections []report.Section
	want     []reporttest.Want           // the sections' charts
	pageWant []reporttest.Want           // every chart of the page last built
	runs     map[string]*loadtest.Report // by section ID
	compare  [][]string                  // rows of the shared tier's table
	written  bool
}

func newChartReport(path string) *chartReport {
	return &chartReport{path: path, title: "make kind-e2e", runs: map[string]*loadtest.Report{}}
}

// add puts one load run on the page: its latency spectrum, throughput,
// latency and errors over time, and the tracker's series (ready relay
// pods, upstream calls counted by the stand-in and by the relays), all on
// one time axis with the stage's events.
func (p *chartReport) add(id, title string, rep *loadtest.Report, marks []report.Mark, notes ...string) {
	p.sections = append(p.sections, report.Section{
		ID: id, Title: title, Notes: notes,
		Charts: loadchart.Charts(rep, id, marks),
		Tables: []report.Table{loadchart.Summary(rep)},
	})
	p.want = append(p.want,
		reporttest.Want{ID: id + "-spectrum", Series: []string{"latency"}},
		reporttest.Want{ID: id + "-throughput", Series: []string{"req/s"}},
		reporttest.Want{ID: id + "-latency", Series: []string{"p50", "p99", "max"}},
		reporttest.Want{ID: id + "-errors", Series: []string{"errors/s"}},
	)
	// every series the run carries must be drawn: one chart per probe
	for i, pr := range rep.Probes {
		p.want = append(p.want, reporttest.Want{ID: fmt.Sprintf("%s-probe-%d", id, i+1), Series: []string{pr.Name}})
	}
	p.runs[id] = rep
}

// comparison draws two runs' tracker series side by side (without and
// with the shared tier), when both ran, and says what the page must show
// of them.
func (p *chartReport) comparison() ([]report.Chart, []reporttest.Want) {
	const without, with = "without the tier", "with the tier"
	var (
		charts []report.Chart
		want   []reporttest.Want
	)
	pair := func(id, title, yLabel, series string, counter bool, a, b string) {
		ra, rb := p.runs[a], p.runs[b]
		if ra == nil || rb == nil {
			return
		}
		pa, oka := ra.Probe(series)
		pb, okb := rb.Probe(series)
		if !oka || !okb {
			return
		}
		var c report.Chart
		if counter {
			c = loadchart.RateChart(id, title, yLabel, nil, loadchart.Probe(pa, without), loadchart.Probe(pb, with))
		} else {
			c = loadchart.TimeChart(id, title, yLabel, nil, loadchart.Probe(pa, without), loadchart.Probe(pb, with))
		}
		c.Caption = "time from each run's start"
		charts = append(charts, c)
		want = append(want, reporttest.Want{ID: id, Series: []string{without, with}})
	}
	pair("tier-hpa-calls", "upstream calls per second, HPA runs (stand-in)", "upstream calls per second", seriesStandInCalls, true, "hpa", "hpa-tier")
	pair("tier-hpa-ready", "ready relay pods, HPA runs", seriesReady, seriesReady, false, "hpa", "hpa-tier")
	pair("tier-upgrade-calls", "upstream calls per second, rolling upgrades (stand-in)", "upstream calls per second", seriesStandInCalls, true, "upgrade", "upgrade-tier")
	return charts, want
}

// page builds the page from what ran so far.
func (p *chartReport) page(r *chartRun) *report.Page {
	page := &report.Page{Title: p.title, Subtitle: p.subtitle, Generated: time.Now()}
	charts, want := p.comparison()
	p.pageWant = append(append([]reporttest.Want(nil), p.want...), want...)
	if len(charts) > 0 || len(p.compare) > 0 {
		sec := report.Section{ID: "shared-tier", Title: "the shared cache tier: upstream calls with and without it",
			Notes:  []string{"The stand-in counts the upstream calls of all relay replicas from the upstream's side; the relays' own metrics count them too. One call per key per TTL is what one cache for the whole cluster makes."},
			Charts: charts}
		if len(p.compare) > 0 {
			sec.Tables = []report.Table{{Caption: "upstream calls, same run", Header: []string{"", "without the tier", "with the tier"}, Rows: p.compare}}
		}
		page.Sections = append(page.Sections, sec)
	}
	page.Sections = append(page.Sections, p.sections...)
	stages := report.Table{Caption: "stages", Header: []string{"stage", "result", "time", "detail"}}
	for _, row := range r.rows {
		took := "-"
		if row.result != "not run" && row.result != "SKIP" {
			took = row.took.Round(100 * time.Millisecond).String()
		}
		stages.Rows = append(stages.Rows, []string{row.stage, row.result, took, row.detail})
	}
	stages.Rows = append(stages.Rows, []string{"total", "", time.Since(r.start).Round(time.Second).String(), ""})
	numbers := report.Table{Caption: "measured", Header: []string{"", "value"}}
	for _, n := range r.numbers {
		numbers.Rows = append(numbers.Rows, []string{n[0], n[1]})
	}
	page.Sections = append(page.Sections, report.Section{ID: "summary", Title: "summary", Tables: []report.Table{stages, numbers}})
	return page
}

// write writes the page.
func (p *chartReport) write(r *chartRun) error {
	if err := p.page(r).WriteFile(p.path); err != nil {
		return fmt.Errorf("writing the report %s: %w", p.path, err)
	}
	p.written = true
	return nil
}

// check opens the written page in headless Chromium and fails the test
// unless every chart the stages put on it was drawn, with its series.
func (p *chartReport) check(t *testing.T) *reporttest.Page {
	t.Helper()
	return reporttest.Check(t, p.path, p.pageWant)
}
