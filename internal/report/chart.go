package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one plot: series of points against two axes, drawn by
// gonum.org/v1/plot as SVG.
type Chart struct {
	// ID names the chart in the page (the figure's id and data-chart
	// attribute); unique within a page, letters, digits and '-' only.
	ID string
	// Title is drawn above the plot.
	Title string
	// X and Y are the axes.
	X, Y Axis
	// Series are the lines drawn, each with its own colour and a legend entry.
	Series []Series
	// Marks are labelled vertical lines at X values: events such as
	// "upgrade started" or "pod deleted".
	Marks []Mark
	// Points draws a glyph at every point as well as the line between
	// them (for sweeps, where the points are the measurements).
	Points bool
	// Steps draws each point's value as a level back to the previous point
	// (counts per interval, each point at its interval's end).
	Steps bool
	// Caption is the text under the chart.
	Caption string
}

// Axis describes one axis of a chart.
type Axis struct {
	// Label names the axis and its unit.
	Label string
	// Scale maps values onto the axis.
	Scale Scale
	// FromZero starts a linear axis at 0 (rates, counts), however the data lie.
	FromZero bool
	// Ticks, when set, are the only labelled ticks (a sweep's values);
	// otherwise the scale chooses them.
	Ticks []float64
}

// Scale is how an axis maps values.
type Scale int

// The scales of an axis.
const (
	// Linear spaces values evenly.
	Linear Scale = iota
	// Log spaces powers of ten evenly; values <= 0 are left out.
	Log
	// Percentile is for percentiles in percent (50, 99, 99.9): the distance
	// from 100 % on a log scale, as HdrHistogram's plots draw a latency
	// spectrum, so 90, 99, 99.9 and 99.99 are evenly spaced. Values outside
	// (0, 100) are left out.
	Percentile
)

// Series is one line of a chart.
type Series struct {
	// Name is the legend's text; the same name has the same colour
	// everywhere on a page.
	Name string
	// Points are the data, in drawing order.
	Points []Point
}

// Point is one datum.
type Point struct{ X, Y float64 }

// Mark is a vertical line at X with a label.
type Mark struct {
	X     float64
	Label string
}

// Chart size on the page.
const (
	chartWidth  = 460 // points
	chartHeight = 285
)

// sans is the font of every text in a chart: Liberation Sans, which the page
// embeds, so that the browser draws the text with the metrics it was laid
// out with.
func sans(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

// palette returns the colours series are drawn with, in order: Okabe
// and Ito's colour-blind safe set, then Tol's darker ones; never a grey,
// which axes, grid and marks use.
func palette() []color.RGBA {
	return []color.RGBA{
		{0x00, 0x72, 0xB2, 0xff}, // blue
		{0xD5, 0x5E, 0x00, 0xff}, // vermillion
		{0x00, 0x9E, 0x73, 0xff}, // bluish green
		{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
		{0xE6, 0x9F, 0x00, 0xff}, // orange
		{0x56, 0xB4, 0xE9, 0xff}, // sky blue
		{0x88, 0x22, 0x55, 0xff}, // wine
		{0x33, 0x22, 0x88, 0xff}, // indigo
		{0x99, 0x99, 0x33, 0xff}, // olive
		{0x44, 0xAA, 0x99, 0xff}, // teal
	}
}

// colors assigns each series name a colour, in order of first appearance.
type colors map[string]color.RGBA

func (c colors) of(name string) color.RGBA {
	if col, ok := c[name]; ok {
		return col
	}
	p := palette()
	col := p[len(c)%len(p)]
	c[name] = col
	return col
}

// validID reports whether id is usable as an HTML id and CSS selector as is.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// usable reports whether a point can be drawn on the axes' scales.
func usable(x, y float64, xs, ys Scale) bool {
	ok := func(v float64, s Scale) bool {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return false
		case s == Log:
			return v > 0
		case s == Percentile:
			return v > 0 && v < 100
		}
		return true
	}
	return ok(x, xs) && ok(y, ys)
}

// drawable returns the series' points that the chart's scales can draw.
func (c *Chart) drawable(s Series) plotter.XYs {
	xys := make(plotter.XYs, 0, len(s.Points))
	for _, p := range s.Points {
		if usable(p.X, p.Y, c.X.Scale, c.Y.Scale) {
			xys = append(xys, plotter.XY{X: p.X, Y: p.Y})
		}
	}
	return xys
}

// SeriesDrawn is the number of series with at least one point the chart can draw.
func (c *Chart) SeriesDrawn() int {
	n := 0
	for _, s := range c.Series {
		if len(c.drawable(s)) > 0 {
			n++
		}
	}
	return n
}

// SVG draws the chart as an SVG document (without the XML prolog, ready to
// be inlined in HTML). Series colours come from pal, shared by a page.
func (c *Chart) SVG(pal colors) ([]byte, error) {
	if pal == nil {
		pal = colors{}
	}
	p := plot.New()
	style(p)
	p.Title.Text = c.Title
	p.X.Label.Text, p.Y.Label.Text = c.X.Label, c.Y.Label
	p.X.Scale, p.X.Tick.Marker = scaleOf(c.X)
	p.Y.Scale, p.Y.Tick.Marker = scaleOf(c.Y)
	p.Add(plotter.NewGrid())
	drawn := 0
	for _, s := range c.Series {
		xys := c.drawable(s)
		if len(xys) == 0 {
			continue
		}
		col := pal.of(s.Name)
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart %s, series %s: %w", c.ID, s.Name, err)
		}
		line.Color, line.Width = col, vg.Points(1.5)
		if c.Steps {
			line.StepStyle = plotter.PreStep
		}
		p.Add(line)
		thumbs := []plot.Thumbnailer{line}
		if c.Points || len(xys) == 1 {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("chart %s, series %s: %w", c.ID, s.Name, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		p.Legend.Add(s.Name, thumbs...)
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("chart %s (%q): no series has a point to draw", c.ID, c.Title)
	}
	fitRange(&p.X, c.X, c.Marks, false)
	fitRange(&p.Y, c.Y, nil, true)
	if err := c.addMarks(p); err != nil {
		return nil, err
	}
	canvas := vgsvg.New(vg.Points(chartWidth), vg.Points(chartHeight))
	p.Draw(draw.New(canvas))
	var b bytes.Buffer
	if _, err := canvas.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart %s: writing SVG: %w", c.ID, err)
	}
	out := b.Bytes()
	i := bytes.Index(out, []byte("<svg"))
	if i < 0 {
		return nil, errors.New("chart " + c.ID + ": the SVG writer wrote no <svg> element")
	}
	return out[i:], nil
}

// style sets the fonts and the legend's place.
func style(p *plot.Plot) {
	set := func(s *text.Style, size vg.Length) { s.Font = sans(size) }
	set(&p.Title.TextStyle, 12)
	set(&p.X.Label.TextStyle, 10)
	set(&p.Y.Label.TextStyle, 10)
	set(&p.X.Tick.Label, 9)
	set(&p.Y.Tick.Label, 9)
	set(&p.Legend.TextStyle, 9)
	p.Title.Padding = vg.Points(6)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-4)
	p.Legend.ThumbnailWidth = vg.Points(16)
	p.Legend.Padding = vg.Points(2.5)
}

// fitRange sets an axis' range from the data the plot has seen, the
// marks and the ticks asked for; a vertical axis gets room at the top for
// the legend.
func fitRange(pa *plot.Axis, a Axis, marks []Mark, vertical bool) {
	for _, m := range marks {
		if usable(m.X, 1, a.Scale, Linear) {
			pa.Min, pa.Max = math.Min(pa.Min, m.X), math.Max(pa.Max, m.X)
		}
	}
	for _, t := range a.Ticks {
		if usable(t, 1, a.Scale, Linear) {
			pa.Min, pa.Max = math.Min(pa.Min, t), math.Max(pa.Max, t)
		}
	}
	switch a.Scale {
	case Linear:
		if a.FromZero && pa.Min > 0 {
			pa.Min = 0
		}
		if pa.Max == pa.Min {
			pa.Max = pa.Min + 1
		}
		if vertical {
			pa.Max += (pa.Max - pa.Min) * 0.22 // the legend's room
		}
	case Log:
		if pa.Max <= pa.Min {
			pa.Min, pa.Max = pa.Min/10, pa.Max*10
		}
		if vertical {
			pa.Max *= math.Pow(pa.Max/pa.Min, 0.22)
		}
	case Percentile:
		if pa.Max <= pa.Min {
			pa.Min, pa.Max = math.Min(pa.Min, 50), math.Max(pa.Max, 99.9)
		}
	}
}

// scaleOf returns gonum's normalizer and ticker for an axis.
func scaleOf(a Axis) (plot.Normalizer, plot.Ticker) {
	var (
		norm plot.Normalizer = plot.LinearScale{}
		tick plot.Ticker     = relabel(plot.DefaultTicks{})
	)
	switch a.Scale {
	case Log:
		norm, tick = plot.LogScale{}, plot.TickerFunc(logTicks)
	case Percentile:
		norm, tick = percentileScale{}, plot.TickerFunc(percentileTicks)
	}
	if len(a.Ticks) > 0 {
		ticks := a.Ticks
		tick = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
			var out []plot.Tick
			for _, v := range ticks {
				if v >= lo && v <= hi {
					out = append(out, plot.Tick{Value: v, Label: Number(v)})
				}
			}
			return out
		})
	}
	return norm, tick
}

// logTicks marks 1 to 9 times each power of ten in range and labels the
// powers of ten, and 2 and 5 times them too when the range spans less than
// three decades; a range in which that labels fewer than two marks gets a
// linear axis' ticks, so that it still reads.
func logTicks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	labelled := []float64{1}
	if math.Log10(hi/lo) < 3 {
		labelled = []float64{1, 2, 5}
	}
	var out []plot.Tick
	labels := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1.0; m <= 9; m++ {
			v := m * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if slices.Contains(labelled, m) {
				t.Label = Number(v)
				labels++
			}
			out = append(out, t)
		}
	}
	if labels < 2 {
		return relabel(plot.DefaultTicks{}).Ticks(lo, hi)
	}
	return out
}

// relabel writes a ticker's labels with Number (60,000 rather than 60000.00).
func relabel(t plot.Ticker) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ticks := t.Ticks(lo, hi)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = Number(ticks[i].Value)
			}
		}
		return ticks
	})
}

// percentileScale places a percentile by its distance from 100 % on a log
// scale: 90, 99, 99.9 and 99.99 are evenly spaced.
type percentileScale struct{}

func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// Normalize implements plot.Normalizer.
func (percentileScale) Normalize(lo, hi, x float64) float64 {
	a, b := nines(lo), nines(hi)
	if b == a {
		return 0.5
	}
	return (nines(x) - a) / (b - a)
}

// percentileTicks labels 50 %, 90 %, 99 %, 99.9 % ... and marks a few between.
func percentileTicks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	add := func(v float64, label string) {
		if v >= lo-1e-9 && v <= hi+1e-9 {
			out = append(out, plot.Tick{Value: v, Label: label})
		}
	}
	add(0, "0%")
	add(25, "")
	add(50, "50%")
	add(75, "")
	for n := 1; n <= 6; n++ {
		v := 100 - 100*math.Pow(10, -float64(n))
		add(v, strconv.FormatFloat(v, 'f', -1, 64)+"%")
		add(100-50*math.Pow(10, -float64(n)), "") // 95, 99.5, 99.95 ...
	}
	return out
}

// addMarks draws the chart's marks as dashed vertical lines across the plot
// with their labels at the top.
func (c *Chart) addMarks(p *plot.Plot) error {
	if len(c.Marks) == 0 {
		return nil
	}
	labels := plotter.XYLabels{}
	for _, m := range c.Marks {
		if !usable(m.X, 1, c.X.Scale, Linear) {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: m.X, Y: p.Y.Min}, {X: m.X, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("chart %s, mark %q: %w", c.ID, m.Label, err)
		}
		l.Color, l.Width = color.Gray{Y: 0x60}, vg.Points(0.8)
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
		labels.XYs = append(labels.XYs, plotter.XY{X: m.X, Y: p.Y.Max})
		labels.Labels = append(labels.Labels, " "+m.Label)
	}
	if len(labels.XYs) == 0 {
		return nil
	}
	lp, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("chart %s, mark labels: %w", c.ID, err)
	}
	for i := range lp.TextStyle {
		lp.TextStyle[i].Font = sans(8)
		lp.TextStyle[i].Color = color.Gray{Y: 0x40}
		lp.TextStyle[i].Rotation = -math.Pi / 2
		lp.TextStyle[i].XAlign = draw.XLeft
		lp.TextStyle[i].YAlign = draw.YTop
	}
	p.Add(lp)
	return nil
}

// Number writes a value for people: thousands separated by commas,
// decimals only where the value has them (at most three significant
// digits after the point for small values).
func Number(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v != math.Trunc(v) && math.Abs(v) < 100:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
