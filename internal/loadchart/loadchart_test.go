package loadchart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/report"
	"github.com/scilifelab/restaurants/internal/report/reporttest"
	"github.com/scilifelab/restaurants/internal/testkit/browsertest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
)

// runWant are the charts of a one-run page with -metrics.
func runWant() []reporttest.Want {
	return []reporttest.Want{
		{ID: "run-spectrum", Series: []string{"latency"}},
		{ID: "run-throughput", Series: []string{"req/s"}},
		{ID: "run-latency", Series: []string{"p50", "p99", "max"}},
		{ID: "run-errors", Series: []string{"errors/s"}},
		{ID: "run-probe-1", Series: []string{"relay upstream calls"}},
	}
}

// loadtest --report against a real relay (in this process) writes a page
// whose every chart a real browser draws, with upstream calls over time
// from the relay's metrics; and the check fails when a chart is removed
// from the page or drawn empty.
func TestLoadtestReportInBrowser(t *testing.T) {
	b := browsertest.New(t) // first: without Chromium (or under -short) the test skips before its load run
	_, up := relaytest.StandIn(t, menuapi.Options{})
	relay := relaytest.Start(t, "--upstream", up.URL+"/api/", "--drain-delay=0", "--log-level=warn", "--cache-ttl=1s")
	page := filepath.Join(t.TempDir(), "run.html")
	var out, errOut bytes.Buffer
	code := loadtest.Command{WriteHTML: WriteRunPage}.Main(context.Background(),
		[]string{"-c", "4", "-d", "3s", "-metrics", relay.AdminURL + "/metrics", "-report", page, relay.URL + "/restaurant/dufva", relay.URL + "/restaurant"},
		&out, &errOut, func(string) (string, bool) { return "", false })
	if code != 0 {
		t.Fatalf("loadtest exit %d: %s", code, errOut.String())
	}
	found := reporttest.Check(t, page, runWant())
	for _, c := range found.Charts {
		if c.ID == "run-probe-1" && !slices.Contains(c.Texts, "relay upstream calls over time") {
			t.Errorf("the probe chart is titled %v", c.Texts)
		}
	}
	shot := filepath.Join(t.TempDir(), "run.png")
	if err := reporttest.Screenshot(b, page, "#run .charts", shot); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(shot); err != nil {
		t.Fatal(err)
	} else {
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 1000 || cfg.Height < 600 {
			t.Errorf("screenshot %dx%d, %v: want the charts as a PNG at the page's width", cfg.Width, cfg.Height, err)
		}
	}

	// The same page with one chart taken out, and one drawn empty: the
	// check must name both.
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	cut := regexp.MustCompile(`(?s)<figure class="chart" id="run-throughput".*?</figure>`)
	empty := regexp.MustCompile(`(?s)(<figure class="chart" id="run-latency"[^>]*>).*?</svg>`)
	if !cut.Match(html) || !empty.Match(html) {
		t.Fatal("the page's figures are not where the test looks for them")
	}
	broken := empty.ReplaceAll(cut.ReplaceAll(html, nil), []byte("$1<svg></svg>"))
	brokenPath := filepath.Join(t.TempDir(), "broken.html")
	if err := os.WriteFile(brokenPath, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := reporttest.Inspect(b, brokenPath)
	if err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(reporttest.Problems(p, runWant()), "\n")
	for _, want := range []string{`chart "run-throughput" is missing`, `chart "run-latency" has 0 drawn paths`} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems of the broken page lack %q:\n%s", want, probs)
		}
	}
}

// The image's loadtest (Main, without the chart writer) refuses --report
// with the reason, before any load.
func TestReportRefusedWithoutWriter(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := loadtest.Main(context.Background(), []string{"-n", "5", "-report", filepath.Join(t.TempDir(), "x.html"), srv.URL},
		&out, &errOut, func(string) (string, bool) { return "", false })
	if code != 2 || !strings.Contains(errOut.String(), "no HTML report writer") || hits.Load() != 0 {
		t.Errorf("exit %d, %d requests, stderr %q", code, hits.Load(), errOut.String())
	}
}

// A page cannot be written when there is nothing to draw: the error says
// which chart.
func TestPageOfNothingFails(t *testing.T) {
	err := WriteRunPage(filepath.Join(t.TempDir(), "x.html"), "nothing", &loadtest.Report{Timeline: &loadtest.Timeline{IntervalSeconds: 1}, Started: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "run-spectrum") {
		t.Errorf("err %v, want the empty spectrum named", err)
	}
	var target *os.PathError
	if errors.As(err, &target) {
		t.Errorf("failed on the file, not on the chart: %v", err)
	}
}

// A run read back from loadtest -json (as an in-cluster run hands it over)
// draws the same charts.
func TestChartsFromJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Millisecond)
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	var n atomic.Int64
	count := loadtest.Probe{Name: "ready replicas", Read: func(context.Context) (float64, error) { return float64(1 + n.Add(1)%3), nil }}
	rep, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []loadtest.Target{{URL: srv.URL, Weight: 1}}, Connections: 2,
		Duration: 2 * time.Second, Probes: []loadtest.Probe{count}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back loadtest.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	marks := []report.Mark{{X: back.At(back.Started.Add(time.Second)), Label: "pod deleted"}}
	for _, r := range []*loadtest.Report{rep, &back} {
		charts := Charts(r, "x", marks)
		if len(charts) != 5 || charts[4].Title != "ready replicas over time" || charts[4].Steps {
			t.Fatalf("%d charts, last %q: want the probe's chart, a gauge drawn as a line", len(charts), charts[len(charts)-1].Title)
		}
		for _, c := range charts {
			if c.SeriesDrawn() != len(c.Series) {
				t.Errorf("chart %s draws %d of %d series", c.ID, c.SeriesDrawn(), len(c.Series))
			}
		}
		if marks[0].X != 1 {
			t.Errorf("mark at %v s, want 1", marks[0].X)
		}
	}
	if err := Page(&back, "from JSON", marks).WriteFile(filepath.Join(t.TempDir(), "p.html")); err != nil {
		t.Fatal(err)
	}
}
