// Package report writes measurements as one self-contained HTML page of
// charts and tables: the charts are drawn by gonum.org/v1/plot as SVG and
// inlined, the font they were laid out with is embedded, and the page has
// no script and loads nothing (its Content-Security-Policy forbids it), so
// the file opens the same anywhere, offline.
package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-fonts/liberation/liberationsansregular"
)

// Page is one report.
type Page struct {
	// Title is the page's title and heading.
	Title string
	// Subtitle is a line under the heading (machine, date, command).
	Subtitle string
	// Notes are paragraphs under the heading.
	Notes []string
	// Sections hold the charts and tables.
	Sections []Section
	// Generated is when the page was written (shown in the footer; zero: now).
	Generated time.Time
}

// Section is a heading with its notes, charts and tables.
type Section struct {
	// ID is the section's anchor (letters, digits, '-').
	ID string
	// Title is the section's heading.
	Title string
	// Notes are paragraphs under the heading.
	Notes []string
	// Items are a list after the notes (findings, settings).
	Items []string
	// Charts are drawn side by side where the page is wide enough.
	Charts []Chart
	// Tables follow the charts.
	Tables []Table
}

// Table is a table of text cells; cells that read as numbers are right-aligned.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// ChartIDs returns the IDs of every chart on the page, in order.
func (p *Page) ChartIDs() []string {
	var ids []string
	for _, s := range p.Sections {
		for _, c := range s.Charts {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// WriteFile writes the page to path, creating its directory.
func (p *Page) WriteFile(path string) error {
	var b bytes.Buffer
	if err := p.WriteHTML(&b); err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// WriteHTML writes the page. It fails when a chart cannot be drawn (no
// series with a drawable point) or when IDs are missing or repeated, so
// that a page never silently lacks a chart.
func (p *Page) WriteHTML(w io.Writer) error {
	seen := map[string]bool{}
	pal := colors{}
	view := pageView{Page: p, Generated: p.Generated,
		Font: template.URL("data:font/ttf;base64," + base64.StdEncoding.EncodeToString(liberationsansregular.TTF))}
	if view.Generated.IsZero() {
		view.Generated = time.Now()
	}
	for _, s := range p.Sections {
		if !validID(s.ID) || seen[s.ID] {
			return fmt.Errorf("report: section %q: its ID %q is missing, repeated or not [A-Za-z0-9-]", s.Title, s.ID)
		}
		seen[s.ID] = true
		sv := sectionView{Section: s}
		for i := range s.Charts {
			c := &s.Charts[i]
			if !validID(c.ID) || seen[c.ID] {
				return fmt.Errorf("report: chart %q: its ID %q is missing, repeated or not [A-Za-z0-9-]", c.Title, c.ID)
			}
			seen[c.ID] = true
			svg, err := c.SVG(pal)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			names := make([]string, 0, len(c.Series))
			for _, s := range c.Series {
				if len(c.drawable(s)) > 0 {
					names = append(names, s.Name)
				}
			}
			sv.Charts = append(sv.Charts, chartView{Chart: c, SVG: template.HTML(svg), //nolint:gosec // drawn here by gonum/plot, text escaped by its SVG writer
				SeriesNames: strings.Join(names, "\n"), SeriesCount: len(names)})
		}
		for _, t := range s.Tables {
			sv.Tables = append(sv.Tables, tableView{Caption: t.Caption, Header: t.Header, Rows: cells(t.Rows)})
		}
		view.Sections = append(view.Sections, sv)
	}
	t, err := template.New("page").Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report: page template: %w", err)
	}
	if err := t.Execute(w, view); err != nil {
		return fmt.Errorf("report: writing the page: %w", err)
	}
	return nil
}

type pageView struct {
	*Page
	Generated time.Time
	Font      template.URL
	Sections  []sectionView
}

type sectionView struct {
	Section
	Charts []chartView
	Tables []tableView
}

type chartView struct {
	*Chart
	SVG         template.HTML
	SeriesNames string
	SeriesCount int
}

type tableView struct {
	Caption string
	Header  []string
	Rows    [][]cell
}

type cell struct {
	Text    string
	Numeric bool
}

func cells(rows [][]string) [][]cell {
	out := make([][]cell, 0, len(rows))
	for _, r := range rows {
		cr := make([]cell, 0, len(r))
		for _, s := range r {
			cr = append(cr, cell{Text: s, Numeric: numeric(s)})
		}
		out = append(out, cr)
	}
	return out
}

// numeric reports whether a cell reads as a number ("1,234", "0.52", "-", "1.2 x").
func numeric(s string) bool {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "x"))
	if s == "-" {
		return true
	}
	_, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return err == nil
}

// pageTemplate is the page. Its Content-Security-Policy allows nothing
// but the inline style and the embedded font: a page that tried to load
// anything would show it as an error in the browser's console.
const pageTemplate = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
@font-face { font-family: "Liberation Sans"; src: url({{.Font}}) format("truetype"); }
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 1.5rem auto; max-width: 1280px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.sub { color: #555; margin-top: 0; }
nav a { margin-right: 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: .5rem 1rem; }
figure.chart { margin: 0; flex: 1 1 560px; max-width: 640px; }
figure.chart svg { width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: #555; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .85rem; }
caption { text-align: left; font-weight: bold; padding: .3rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; }
th { background: #f4f4f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 2rem; font-size: .8rem; color: #777; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
{{with .Subtitle}}<p class="sub">{{.}}</p>{{end}}
{{range .Notes}}<p>{{.}}</p>
{{end}}</header>
{{if gt (len .Sections) 1}}<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a> {{end}}</nav>{{end}}
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{range .Notes}}<p>{{.}}</p>
{{end}}{{with .Items}}<ul>
{{range .}}<li>{{.}}</li>
{{end}}</ul>
{{end}}{{if .Charts}}<div class="charts">
{{range .Charts}}<figure class="chart" id="{{.ID}}" data-chart="{{.ID}}" data-series="{{.SeriesCount}}" data-series-names="{{.SeriesNames}}">
{{.SVG}}{{with .Caption}}<figcaption>{{.}}</figcaption>{{end}}
</figure>
{{end}}</div>
{{end}}{{range .Tables}}<table>
{{with .Caption}}<caption>{{.}}</caption>{{end}}
<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td{{if .Numeric}} class="n"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}</section>
{{end}}<footer>Written {{.Generated.UTC.Format "2006-01-02 15:04 UTC"}}. Charts drawn with gonum.org/v1/plot; text in Liberation Sans (SIL Open Font License), embedded. This page has no script and loads nothing.</footer>
</body>
</html>
`
