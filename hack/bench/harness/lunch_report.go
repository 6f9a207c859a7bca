package harness

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/report"
)

// lunchSummary is what one system's run of the schedule amounts to.
type lunchSummary struct {
	Requests int
	// Waits are the users whose answer took longer than the wait
	// threshold; LateWaits those of them scheduled after the first minute,
	// of LateRequests.
	Waits, LateRequests, LateWaits int
	// Errors are requests without a 200.
	Errors             int
	P50, P90, P99, Max float64
	// Cache counts the answers by X-Cache.
	Cache map[string]int64
}

// percentile is the nearest-rank percentile p (0-100) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summary counts the system's waits, errors and latency percentiles.
func (s *LunchSystem) summary(wait, first time.Duration) lunchSummary {
	sum := lunchSummary{Requests: len(s.Requests), Cache: map[string]int64{}}
	ms := make([]float64, 0, len(s.Requests))
	waitMs := float64(wait) / 1e6
	for _, q := range s.Requests {
		ms = append(ms, q.Millis)
		late := q.AtSeconds >= first.Seconds()
		if late {
			sum.LateRequests++
		}
		if q.Millis > waitMs {
			sum.Waits++
			if late {
				sum.LateWaits++
			}
		}
		if q.failed() {
			sum.Errors++
		}
		if q.Cache != "" {
			sum.Cache[q.Cache]++
		}
	}
	slices.Sort(ms)
	sum.P50, sum.P90, sum.P99 = percentile(ms, 50), percentile(ms, 90), percentile(ms, 99)
	if len(ms) > 0 {
		sum.Max = ms[len(ms)-1]
	}
	return sum
}

func (lr *LunchResult) wait() time.Duration {
	return time.Duration(lr.WaitMillis * float64(time.Millisecond))
}

func (lr *LunchResult) first() time.Duration {
	return time.Duration(lr.FirstMinuteSeconds * float64(time.Second))
}

// system returns the run of the named system that ran (nil when it did not).
func (lr *LunchResult) system(name string) *LunchSystem {
	for i := range lr.Systems {
		if s := &lr.Systems[i]; s.System == name && s.Unavailable == "" {
			return s
		}
	}
	return nil
}

func (lr *LunchResult) title() string {
	return fmt.Sprintf("sparse lunch traffic: Poisson arrivals at %g/s for %v, Zipf (s=%g) over the list + %d restaurants, upstream %v per computed answer, its own cache %v (menus) / %v (list)",
		lr.RatePerSecond, time.Duration(lr.DurationSeconds*float64(time.Second)), lr.ZipfS, len(lr.Keys)-1,
		time.Duration(lr.ComputeSeconds*float64(time.Second)), time.Duration(lr.MenuMaxAgeSeconds*float64(time.Second)),
		time.Duration(lr.ListMaxAgeSeconds*float64(time.Second)))
}

func (lr *LunchResult) about() string {
	return fmt.Sprintf("One schedule of %d requests (seed %d; the list is the most popular key, then the restaurants in the stand-in's order) "+
		"sent at the same moments to every system at once, each request on its own connection, not waiting for earlier ones, within %gs; "+
		"each system in front of its own stand-in (%s), which answers like the API: max-age = the time left in its cache, a weak ETag, 304 on a matching If-None-Match. "+
		"A user waited when the answer took more than %g ms. Upstream requests are the stand-in's counters from its start to the end of the run: "+
		"computed (a second each: not in its cache), from its cache, and 304; a 304 after its own copy expired is computed too, so the three can add up to more than the requests. "+
		"The relay runs with its defaults; nginx with proxy_cache_revalidate, proxy_cache_use_stale updating error timeout http_5xx, proxy_cache_background_update, proxy_cache_lock, "+
		"the API's Cache-Control honoured and proxy_cache_valid 200 %gs for answers that name no lifetime; the warming relay with %s.",
		lr.Scheduled, lr.Seed, lr.TimeoutSeconds, strings.Join(lr.StandInFlags, " "), lr.WaitMillis, lr.NginxTTLSeconds, lunchWarmFlag)
}

// counter writes a stand-in counter, "-" when it does not count it.
func counter(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// share writes n of total as a percentage.
func share(n, total int) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(total))
}

// table returns one row per system.
func (lr *LunchResult) table() (header []string, rows [][]string) {
	header = []string{"system", "requests", fmt.Sprintf("waited > %g ms", lr.WaitMillis), "waited %",
		fmt.Sprintf("waited after %gs", lr.FirstMinuteSeconds), "upstream requests", "computed", "from the API's cache", "304",
		"p50 ms", "p90 ms", "p99 ms", "max ms", "errors"}
	for _, s := range lr.Systems {
		if s.Unavailable != "" {
			row := []string{s.System + " (not available)"}
			for range header[1:] {
				row = append(row, "-")
			}
			rows = append(rows, row)
			continue
		}
		sum := s.summary(lr.wait(), lr.first())
		u := s.Upstream
		rows = append(rows, []string{s.System, fmt.Sprint(sum.Requests), fmt.Sprint(sum.Waits), share(sum.Waits, sum.Requests),
			fmt.Sprintf("%d of %d", sum.LateWaits, sum.LateRequests), counter(u.Requests), counter(u.Computed), counter(u.FromCache), counter(u.NotModified),
			fmt.Sprintf("%.1f", sum.P50), fmt.Sprintf("%.1f", sum.P90), fmt.Sprintf("%.1f", sum.P99), fmt.Sprintf("%.1f", sum.Max), fmt.Sprint(sum.Errors)})
	}
	return header, rows
}

// goals say whether the scenario's goals held: the relay waits no more
// than nginx and asks the upstream no more often, in the same run; with
// warming, nobody waits after the first minute.
func (lr *LunchResult) goals() []string {
	var out []string
	relay, nginx := lr.system(SystemRelay), lr.system(SystemNginx)
	if relay != nil && nginx != nil {
		r, n := relay.summary(lr.wait(), lr.first()), nginx.summary(lr.wait(), lr.first())
		waits, calls := r.Waits <= n.Waits, relay.Upstream.Requests <= nginx.Upstream.Requests
		out = append(out, fmt.Sprintf("goal, same run: relay waits %d <= nginx's %d: %s; relay upstream requests %d <= nginx's %d: %s; both: %s",
			r.Waits, n.Waits, heldText(waits), relay.Upstream.Requests, nginx.Upstream.Requests, heldText(calls), heldText(waits && calls)))
	} else {
		out = append(out, "goal against nginx: not measured (nginx or the relay did not run)")
	}
	if warm := lr.system(SystemRelayWarm); warm != nil {
		w := warm.summary(lr.wait(), lr.first())
		out = append(out, fmt.Sprintf("goal with warming: waits after the first %gs %d of %d, goal 0: %s",
			lr.FirstMinuteSeconds, w.LateWaits, w.LateRequests, heldText(w.LateWaits == 0)))
	} else {
		for _, s := range lr.Systems {
			if s.System == SystemRelayWarm && s.Unavailable != "" {
				out = append(out, fmt.Sprintf("goal with warming: not measured, %s not available (%s)", SystemRelayWarm, s.Unavailable))
			}
		}
	}
	return out
}

// findings are the goals, what each system answered from, its flags, and
// how closely the schedule was kept.
func (lr *LunchResult) findings() []string {
	out := lr.goals()
	for i := range lr.Systems {
		s := &lr.Systems[i]
		if s.Unavailable != "" {
			continue
		}
		sum := s.summary(lr.wait(), lr.first())
		out = append(out, fmt.Sprintf("%s: answers by X-Cache %s", s.System, statusText(sum.Cache)))
		if s.System != SystemNginx {
			out = append(out, fmt.Sprintf("%s flags: %s", s.System, flagsText(s.Flags)))
		}
	}
	out = append(out, fmt.Sprintf("requests were sent at most %.1f ms after their scheduled moment", lr.ScheduleLagMaxSeconds*1000))
	return out
}

// line is a system's numbers for the progress log.
func (s *LunchSystem) line(lr *LunchResult) string {
	sum := s.summary(lr.wait(), lr.first())
	u := s.Upstream
	return fmt.Sprintf("%d requests, waited %d (%s), after %gs %d; upstream %s (computed %s, from cache %s, 304 %s); p50 %.1f p90 %.1f p99 %.1f ms; errors %d",
		sum.Requests, sum.Waits, share(sum.Waits, sum.Requests), lr.FirstMinuteSeconds, sum.LateWaits, counter(u.Requests), counter(u.Computed),
		counter(u.FromCache), counter(u.NotModified), sum.P50, sum.P90, sum.P99, sum.Errors)
}

// writeTable prints the scenario as Markdown.
func (lr *LunchResult) writeTable(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s: %s\n", ScenarioLunch, lr.title())
	fmt.Fprintf(&b, "%s\n\n", lr.about())
	h, rows := lr.table()
	writeMarkdown(&b, h, rows)
	b.WriteString("\n")
	for _, f := range lr.findings() {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

// lunchWindow is the width of the slowest-answer chart's windows.
const lunchWindow = 10 * time.Second

// slowest is the slowest answer of each window of the run, at the
// window's end; windows without a request have no point.
func (s *LunchSystem) slowest(window time.Duration) report.Series {
	out := report.Series{Name: s.System}
	w := window.Seconds()
	worst := map[int]float64{}
	for _, q := range s.Requests {
		i := int(q.AtSeconds / w)
		worst[i] = max(worst[i], q.Millis)
	}
	for _, i := range slices.Sorted(maps.Keys(worst)) {
		out.Points = append(out.Points, report.Point{X: float64(i+1) * w, Y: worst[i]})
	}
	return out
}

// waitsSoFar is the count of users who waited, rising at the moment each
// of them asked, from 0 to end.
func (s *LunchSystem) waitsSoFar(wait time.Duration, end float64) report.Series {
	out := report.Series{Name: s.System, Points: []report.Point{{X: 0, Y: 0}}}
	n := 0.0
	for _, q := range s.Requests {
		if q.Millis > float64(wait)/1e6 {
			out.Points = append(out.Points, report.Point{X: q.AtSeconds, Y: n}, report.Point{X: q.AtSeconds, Y: n + 1})
			n++
		}
	}
	out.Points = append(out.Points, report.Point{X: end, Y: n})
	return out
}

// upstreamSoFar is the stand-in's count of requests over the run.
func (s *LunchSystem) upstreamSoFar() report.Series {
	out := report.Series{Name: s.System}
	for _, c := range s.UpstreamOverTime {
		out.Points = append(out.Points, report.Point{X: c.Seconds, Y: float64(c.Requests)})
	}
	return out
}

// section is the scenario in the report: when users waited and for how
// long, the waits and the upstream's requests adding up, the table.
func (lr *LunchResult) section() report.Section {
	var slow, waits, calls []report.Series
	for i := range lr.Systems {
		s := &lr.Systems[i]
		if s.Unavailable != "" || len(s.Requests) == 0 {
			continue
		}
		slow = append(slow, s.slowest(lunchWindow))
		waits = append(waits, s.waitsSoFar(lr.wait(), lr.DurationSeconds))
		if len(s.UpstreamOverTime) > 0 {
			calls = append(calls, s.upstreamSoFar())
		}
	}
	marks := []report.Mark{{X: lr.FirstMinuteSeconds, Label: "first minute"}}
	sec := report.Section{ID: ScenarioLunch, Title: ScenarioLunch + ": " + lr.title(), Notes: []string{lr.about()}, Items: lr.findings()}
	if len(slow) > 0 {
		latency := loadchart.TimeChart(ScenarioLunch+"-slowest", fmt.Sprintf("%s: slowest answer in each %v", ScenarioLunch, lunchWindow),
			"latency (ms, log scale)", marks, slow...)
		latency.Y.Scale, latency.Y.FromZero, latency.Points = report.Log, false, true
		latency.Caption = fmt.Sprintf("A point above %g ms is a window in which a user waited for the upstream.", lr.WaitMillis)
		w := loadchart.TimeChart(ScenarioLunch+"-waits", fmt.Sprintf("%s: users who waited > %g ms, so far", ScenarioLunch, lr.WaitMillis),
			"users who waited", marks, waits...)
		w.Caption = "Each step is a user whose answer took longer than the threshold, at the moment they asked; where two systems' counts are equal, one line hides the other."
		sec.Charts = append(sec.Charts, latency, w)
	}
	if len(calls) > 0 {
		c := loadchart.TimeChart(ScenarioLunch+"-upstream", ScenarioLunch+": requests the upstream received, so far", "upstream requests", marks, calls...)
		c.Caption = "Each system's stand-in's count (computed, from its cache and 304 together), read every second."
		sec.Charts = append(sec.Charts, c)
	}
	h, rows := lr.table()
	sec.Tables = []report.Table{{Header: h, Rows: rows}}
	return sec
}
