package report

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
)

func line(name string, n int, f func(i int) Point) Series {
	s := Series{Name: name}
	for i := range n {
		s.Points = append(s.Points, f(i))
	}
	return s
}

func testPage() *Page {
	spectrum := func(scale float64) func(int) Point {
		return func(i int) Point {
			x := math.Log10(2) + float64(i)*0.05
			return Point{X: 100 * (1 - math.Pow(10, -x)), Y: scale * math.Pow(2, x)}
		}
	}
	return &Page{Title: "t <1>", Subtitle: "sub", Notes: []string{"note & more"}, Sections: []Section{
		{ID: "a", Title: "section a", Charts: []Chart{
			{ID: "a-spectrum", Title: "spectrum", X: Axis{Label: "percentile", Scale: Percentile}, Y: Axis{Label: "ms", Scale: Log},
				Series: []Series{line("relay", 60, spectrum(1)), line("nginx", 60, spectrum(2))}},
			{ID: "a-time", Title: "over time", X: Axis{Label: "s", FromZero: true}, Y: Axis{Label: "req/s", FromZero: true}, Steps: true,
				Series: []Series{line("relay", 10, func(i int) Point { return Point{float64(i), 100 + float64(i)} })},
				Marks:  []Mark{{X: 4, Label: "upgrade"}}},
		}, Tables: []Table{{Caption: "numbers", Header: []string{"system", "req/s"}, Rows: [][]string{{"relay", "1,234"}, {"nginx", "-"}}}}},
		{ID: "b", Title: "section b", Charts: []Chart{
			{ID: "b-sweep", Title: "sweep", Points: true, X: Axis{Label: "connections", Scale: Log, Ticks: []float64{20, 200, 2000}}, Y: Axis{Label: "req/s"},
				Series: []Series{{Name: "nginx", Points: []Point{{20, 5}, {200, 4}, {2000, 3}}}}},
		}},
	}}
}

func TestWriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := testPage().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	figures := regexp.MustCompile(`<figure class="chart" id="([a-z-]+)" data-chart="[a-z-]+" data-series="(\d)"`).FindAllStringSubmatch(html, -1)
	if len(figures) != 3 || figures[0][1] != "a-spectrum" || figures[0][2] != "2" || figures[2][1] != "b-sweep" {
		t.Errorf("figures %v, want a-spectrum (2 series), a-time, b-sweep", figures)
	}
	if n := strings.Count(html, "<svg"); n != 3 {
		t.Errorf("%d svg elements, want 3", n)
	}
	for _, want := range []string{
		"<title>t &lt;1&gt;</title>", "note &amp; more", `<td class="n">1,234</td>`, `<td class="n">-</td>`, "<td>relay</td>",
		"Content-Security-Policy", "default-src 'none'", "data:font/ttf;base64,", `<a href="#b">section b</a>`,
		">99.9%</text>", ">2,000</text>", "> upgrade</text>", "Liberation Sans",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Nothing to fetch: no script, and no address but the SVG namespaces.
	bare := strings.NewReplacer(`xmlns="http://www.w3.org/2000/svg"`, "", `xmlns:xlink="http://www.w3.org/1999/xlink"`, "").Replace(html)
	for _, bad := range []string{"<script", "<?xml", "http://", "https://", "src="} {
		if strings.Contains(bare, bad) {
			t.Errorf("page has %q", bad)
		}
	}
}

func TestPageRefusesWhatItCannotDraw(t *testing.T) {
	for name, mutate := range map[string]func(p *Page){
		"no points":     func(p *Page) { p.Sections[1].Charts[0].Series[0].Points = nil },
		"only <= 0 log": func(p *Page) { p.Sections[1].Charts[0].Series[0].Points = []Point{{0, 1}, {-1, 2}} },
		"repeated id":   func(p *Page) { p.Sections[1].Charts[0].ID = "a-time" },
		"bad id":        func(p *Page) { p.Sections[0].Charts[0].ID = "a spectrum" },
		"section id":    func(p *Page) { p.Sections[1].ID = "a" },
	} {
		p := testPage()
		mutate(p)
		if err := p.WriteHTML(&bytes.Buffer{}); err == nil {
			t.Errorf("%s: page written", name)
		}
	}
}

func TestUnusablePointsLeftOut(t *testing.T) {
	c := Chart{ID: "c", X: Axis{Scale: Percentile}, Y: Axis{Scale: Log}, Series: []Series{
		{Name: "a", Points: []Point{{50, 1}, {100, 2}, {99, 0}, {99.9, math.NaN()}, {90, 3}}},
		{Name: "b", Points: []Point{{100, 1}}},
	}}
	if got := len(c.drawable(c.Series[0])); got != 2 {
		t.Errorf("%d drawable points, want 2 (100 %%, 0 on a log scale and NaN left out)", got)
	}
	if c.SeriesDrawn() != 1 {
		t.Errorf("%d series drawn, want 1", c.SeriesDrawn())
	}
	if _, err := c.SVG(nil); err != nil {
		t.Error(err)
	}
}

func TestPercentileScale(t *testing.T) {
	s := percentileScale{}
	if a, b, c := s.Normalize(50, 99.99, 50), s.Normalize(50, 99.99, 99.99), s.Normalize(90, 99.99, 99.9); a != 0 || math.Abs(b-1) > 1e-9 || math.Abs(c-2.0/3) > 1e-9 {
		t.Errorf("normalize: %v %v %v, want 0, 1 and 2/3 (90, 99, 99.9, 99.99 evenly spaced)", a, b, c)
	}
	var labels []string
	for _, tk := range percentileTicks(50, 99.99) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "50% 90% 99% 99.9% 99.99%" {
		t.Errorf("tick labels %q", got)
	}
}

func TestNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 12: "12", 1234: "1,234", 100000: "100,000", -2500: "-2,500", 0.523: "0.523", 12.34: "12.3", 1234.6: "1,235"} {
		if got := Number(v); got != want {
			t.Errorf("Number(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	labels := func(lo, hi float64) string {
		var l []string
		for _, tk := range logTicks(lo, hi) {
			if tk.Label != "" {
				l = append(l, tk.Label)
			}
		}
		return strings.Join(l, " ")
	}
	if got := strings.Fields(labels(6.2, 19)); len(got) < 2 {
		t.Errorf("6.2 to 19: %q, want a linear axis' ticks, at least two", got)
	}
	if got := labels(4.1, 26); got != "5 10 20" {
		t.Errorf("4.1 to 26: %q, want 5 10 20", got)
	}
	if got := labels(13, 2400); got != "20 50 100 200 500 1,000 2,000" {
		t.Errorf("13 to 2,400: %q", got)
	}
	if got := labels(0.3, 2000); got != "1 10 100 1,000" {
		t.Errorf("0.3 to 2,000: %q, want the powers of ten", got)
	}
	if got := labels(0.05, 0.5); got != "0.05 0.1 0.2 0.5" {
		t.Errorf("0.05 to 0.5: %q", got)
	}
}
