// Package reporttest checks report pages the way a reader meets them: it
// opens the file in a real headless Chromium (internal/testkit/browsertest) and
// reads back what was drawn, chart by chart, and what the console logged.
package reporttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scilifelab/restaurants/internal/testkit/browsertest"
)

// Chart is what the browser found of one chart (figure.chart) on the page.
type Chart struct {
	ID string `json:"id"`
	// Series and SeriesNames are what the page says the chart draws.
	Series      int      `json:"series"`
	SeriesNames []string `json:"seriesNames"`
	// SVG tells whether the figure holds an svg element; Width and Height
	// are its size on the page.
	SVG    bool    `json:"svg"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Paths counts path elements with drawing commands and a non-empty box.
	Paths int `json:"paths"`
	// Colors are the distinct stroke colours of the paths other than the
	// black and greys of axes, ticks, grid and marks: the series' lines.
	Colors []string `json:"colors"`
	// Texts are the chart's text elements (title, axis labels, ticks, legend).
	Texts []string `json:"texts"`
}

// Page is what the browser found on the page.
type Page struct {
	Charts []Chart `json:"charts"`
	// Scripts counts script elements; Resources lists what the page loaded.
	Scripts   int      `json:"scripts"`
	Resources []string `json:"resources"`
	// FontLoaded tells whether the embedded Liberation Sans is in use.
	FontLoaded bool `json:"fontLoaded"`
	// Errors are the console's errors and uncaught exceptions.
	Errors []string `json:"-"`
}

// inspectJS reads every chart of the page.
const inspectJS = `(async () => {
  await document.fonts.ready;
  const neutral = (c) => {
    const m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/);
    return !m || (m[1] === m[2] && m[2] === m[3]);
  };
  const charts = [...document.querySelectorAll("figure.chart")].map((f) => {
    const svg = f.querySelector("svg");
    const out = {id: f.dataset.chart || "", series: Number(f.dataset.series || 0),
      seriesNames: (f.dataset.seriesNames || "").split("\n").filter(Boolean),
      svg: !!svg, width: 0, height: 0, paths: 0, colors: [], texts: []};
    if (!svg) return out;
    const box = svg.getBoundingClientRect();
    out.width = box.width; out.height = box.height;
    const colors = new Set();
    for (const p of svg.querySelectorAll("path")) {
      if (!(p.getAttribute("d") || "").trim()) continue;
      const b = p.getBBox();
      if (b.width + b.height <= 0) continue;
      out.paths++;
      const stroke = getComputedStyle(p).stroke;
      if (stroke && stroke !== "none" && !neutral(stroke)) colors.add(stroke);
    }
    out.colors = [...colors];
    out.texts = [...svg.querySelectorAll("text")].map((t) => t.textContent.trim()).filter(Boolean);
    return out;
  });
  return {charts, scripts: document.scripts.length,
    resources: performance.getEntriesByType("resource").map((e) => e.name),
    fontLoaded: document.fonts.check('12px "Liberation Sans"') &&
      [...document.fonts].some((f) => f.family.replace(/"/g, "") === "Liberation Sans" && f.status === "loaded")};
})()`

// fileURL is the file:// URL of a page on disk.
func fileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	return "file://" + abs, nil
}

// Inspect opens the page file in the browser and reads back every chart.
func Inspect(b *browsertest.Browser, path string) (*Page, error) {
	url, err := fileURL(path)
	if err != nil {
		return nil, err
	}
	if err := b.Do(60*time.Second, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[Page](inspectJS, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("reading the page: %w", err)
	}
	p.Errors = b.Errors()
	return &p, nil
}

// Want is a chart the page must have: its ID and the series it draws.
type Want struct {
	ID     string
	Series []string
}

// Problems lists what is wrong with the page against want: a chart
// missing, unexpected or drawn empty (no svg, no size, fewer coloured lines
// than series, a series missing from the legend, no text), a script or a
// loaded resource, the embedded font not in use, a console error.
func Problems(p *Page, want []Want) []string {
	var out []string
	byID := map[string]Chart{}
	for _, c := range p.Charts {
		if _, dup := byID[c.ID]; dup {
			out = append(out, fmt.Sprintf("chart %q appears twice", c.ID))
		}
		byID[c.ID] = c
	}
	for _, w := range want {
		c, ok := byID[w.ID]
		if !ok {
			out = append(out, fmt.Sprintf("chart %q is missing", w.ID))
			continue
		}
		switch {
		case !c.SVG:
			out = append(out, fmt.Sprintf("chart %q has no svg", w.ID))
			continue
		case c.Width < 100 || c.Height < 60:
			out = append(out, fmt.Sprintf("chart %q is %.0fx%.0f px on the page", w.ID, c.Width, c.Height))
		case len(c.Texts) < 3:
			out = append(out, fmt.Sprintf("chart %q has %d texts: no title, labels or ticks", w.ID, len(c.Texts)))
		}
		if c.Series != len(w.Series) || len(c.Colors) < len(w.Series) {
			out = append(out, fmt.Sprintf("chart %q draws %d series in %d colours, want %d: %v", w.ID, c.Series, len(c.Colors), len(w.Series), w.Series))
		}
		for _, s := range w.Series {
			if !slices.Contains(c.Texts, s) || !slices.Contains(c.SeriesNames, s) {
				out = append(out, fmt.Sprintf("chart %q: series %q not in its legend %v", w.ID, s, c.Texts))
			}
		}
		if c.Paths < len(w.Series)+2 {
			out = append(out, fmt.Sprintf("chart %q has %d drawn paths: no axes or lines", w.ID, c.Paths))
		}
	}
	for _, c := range p.Charts {
		if !slices.ContainsFunc(want, func(w Want) bool { return w.ID == c.ID }) {
			out = append(out, fmt.Sprintf("chart %q is not expected", c.ID))
		}
	}
	if p.Scripts > 0 {
		out = append(out, fmt.Sprintf("the page has %d scripts, want none", p.Scripts))
	}
	for _, r := range p.Resources {
		out = append(out, "the page loaded "+r)
	}
	if !p.FontLoaded {
		out = append(out, "the embedded Liberation Sans is not in use")
	}
	for _, e := range p.Errors {
		out = append(out, "console: "+e)
	}
	return out
}

// Check opens the page in a new browser and fails the test with every
// problem Problems finds.
func Check(t testing.TB, path string, want []Want) *Page {
	t.Helper()
	b := browsertest.New(t)
	p, err := Inspect(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if probs := Problems(p, want); len(probs) > 0 {
		t.Errorf("%s:\n  %s", path, strings.Join(probs, "\n  "))
	}
	return p
}

// Screenshot writes a PNG of the page's element sel (a CSS selector, such
// as "#ttl1"), as the browser draws it 1280 px wide.
func Screenshot(b *browsertest.Browser, path, sel, out string) error {
	url, err := fileURL(path)
	if err != nil {
		return err
	}
	if err := b.Do(60*time.Second, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		return fmt.Errorf("screenshot of %s: %w", sel, err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return fmt.Errorf("writing the screenshot: %w", err)
	}
	return nil
}
