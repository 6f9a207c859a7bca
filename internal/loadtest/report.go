package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of a run.
type Report struct {
	// Mode is "closed" (Connections back to back) or "open" (fixed Rate).
	Mode string `json:"mode"`
	// Connections is the number of concurrent connections used.
	Connections int `json:"connections"`
	// Rate is the requested rate in requests per second (open loop only).
	Rate float64 `json:"rate,omitempty"`
	// DurationSeconds is the configured duration.
	DurationSeconds float64 `json:"duration_seconds"`
	// ElapsedSeconds is the wall time from the first request to the last answer.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests counts finished requests: answers plus transport errors.
	Requests int64 `json:"requests"`
	// Responses counts requests answered with an HTTP status.
	Responses int64 `json:"responses"`
	// TransportErrors counts requests that got no complete answer.
	TransportErrors int64 `json:"transport_errors"`
	// ServerErrors counts answers with a 5xx status.
	ServerErrors int64 `json:"server_errors"`
	// Missed counts open-loop requests intended before the end that found no
	// free connection within one request timeout after it.
	Missed int64 `json:"missed,omitempty"`
	// Canceled counts requests cut short because the caller ended the run early
	// (not counted as errors).
	Canceled int64 `json:"canceled,omitempty"`
	// Connects counts the TCP connections opened (Connections when keep-alive held).
	Connects int64 `json:"connects"`
	// RequestsPerSecond is Requests / ElapsedSeconds.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// BodyBytes is the total size of the answer bodies read.
	BodyBytes int64 `json:"body_bytes"`
	// Latency summarizes the latency distribution.
	Latency Latency `json:"latency_ms"`
	// StatusCodes counts answers by status code.
	StatusCodes map[string]int64 `json:"status_codes"`
	// ErrorKinds counts transport errors by kind.
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// CountedHeader is Config.CountHeader, and HeaderValues counts the
	// answers by its value (HeaderAbsent: answers without it).
	CountedHeader string           `json:"counted_header,omitempty"`
	HeaderValues  map[string]int64 `json:"header_values,omitempty"`
	// Metrics is what the relay's metrics say happened during the run, when scraped.
	Metrics *MetricsDelta `json:"metrics,omitempty"`
	// Started is when the run began, so that other measurements can be
	// placed on its timeline.
	Started time.Time `json:"started"`
	// Spectrum is the latency at percentiles from 50 to 99.99 (as far as
	// the number of requests resolves), HdrHistogram's percentile distribution.
	Spectrum []Quantile `json:"latency_spectrum_ms,omitempty"`
	// Timeline is the run interval by interval.
	Timeline *Timeline `json:"timeline,omitempty"`
	// Probes are what Config.Probes read during the run.
	Probes []ProbeSeries `json:"probes,omitempty"`

	hist *hdrhistogram.Histogram
}

// Latency is a latency distribution summary in milliseconds.
type Latency struct {
	// Min, Mean and Max are the smallest, average and largest latency.
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	// P50 to P999 are the 50th, 90th, 99th and 99.9th percentiles.
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	// Count is the number of latencies recorded (answers and transport errors).
	Count int64 `json:"count"`
}

// Summarize computes the latency summary of a histogram recorded in microseconds.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Min:   ms(h.Min()),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Count: h.TotalCount(),
	}
}

// Histogram returns the run's merged latency histogram (microseconds).
func (r *Report) Histogram() *hdrhistogram.Histogram { return r.hist }

// Errors is the number the --max-errors budget is checked against:
// transport errors, 5xx answers and missed open-loop requests.
func (r *Report) Errors() int64 { return r.TransportErrors + r.ServerErrors + r.Missed }

func (r *run) report(elapsed time.Duration, missed int64) *Report {
	rep := &Report{
		Mode:            "closed",
		Connections:     r.cfg.Connections,
		DurationSeconds: r.cfg.Duration.Seconds(),
		ElapsedSeconds:  elapsed.Seconds(),
		Missed:          missed,
		Connects:        r.connects.Load(),
		Canceled:        r.aborted.Load(),
		StatusCodes:     map[string]int64{},
		ErrorKinds:      map[string]int64{},
		Started:         r.start,
		CountedHeader:   r.cfg.CountHeader,
		hist:            newHistogram(),
	}
	if r.cfg.CountHeader != "" {
		rep.HeaderValues = map[string]int64{}
	}
	if r.cfg.Rate > 0 {
		rep.Mode, rep.Rate = "open", r.cfg.Rate
	}
	for _, s := range r.shards {
		s.mu.Lock()
		s.flushLocked()
		rep.hist.Merge(s.hist)
		rep.Requests += s.count
		rep.TransportErrors += s.errs
		rep.BodyBytes += s.bytes
		for code, n := range s.status {
			rep.StatusCodes[strconv.Itoa(code)] += n
			rep.Responses += n
			if code >= 500 {
				rep.ServerErrors += n
			}
		}
		for k, n := range s.errKinds {
			rep.ErrorKinds[k] += n
		}
		for v, n := range s.hvals {
			rep.HeaderValues[v] += n
		}
		s.mu.Unlock()
	}
	if elapsed > 0 {
		rep.RequestsPerSecond = float64(rep.Requests) / elapsed.Seconds()
	}
	rep.Latency = Summarize(rep.hist)
	rep.Spectrum = SpectrumOf(rep.hist)
	rep.Timeline = r.timeline.timeline(elapsed)
	return rep
}

// Quantile is the latency at one percentile.
type Quantile struct {
	Percentile float64 `json:"percentile"`
	Millis     float64 `json:"ms"`
}

// At returns t as seconds from the run's start: where an event seen
// elsewhere (an upgrade, a pod deleted) falls on the run's timeline.
func (r *Report) At(t time.Time) float64 { return t.Sub(r.Started).Seconds() }

// Probe returns the series of the probe of that name (false when the run had none).
func (r *Report) Probe(name string) (ProbeSeries, bool) {
	for _, p := range r.Probes {
		if p.Name == name {
			return p, true
		}
	}
	return ProbeSeries{}, false
}

// SpectrumOf returns a histogram's (microseconds) latency at percentiles
// evenly spaced on HdrHistogram's percentile axis, the distance from 100 %
// on a log scale: from 50 % in twentieths of a "nine" up to 99.99 %, and
// only as far as the number of values resolves (99.9 % needs a thousand).
func SpectrumOf(h *hdrhistogram.Histogram) []Quantile {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	lo := math.Log10(2)                           // 50 %: 0.3 nines
	hi := max(lo, min(4, math.Log10(float64(n)))) // the nines the count resolves
	steps := max(1, int(math.Ceil((hi-lo)/0.05)))
	out := make([]Quantile, 0, steps+1)
	for i := 0; i <= steps; i++ {
		p := 100 * (1 - math.Pow(10, -(lo+(hi-lo)*float64(i)/float64(steps))))
		out = append(out, Quantile{Percentile: p, Millis: float64(h.ValueAtQuantile(p)) / 1000})
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Mode == "open" {
		fmt.Fprintf(&b, "open loop: %g req/s intended, %d connections, %s\n", r.Rate, r.Connections, secs(r.DurationSeconds))
	} else {
		fmt.Fprintf(&b, "closed loop: %d connections, %s\n", r.Connections, secs(r.DurationSeconds))
	}
	fmt.Fprintf(&b, "  requests    %d in %s, %.1f req/s\n", r.Requests, secs(r.ElapsedSeconds), r.RequestsPerSecond)
	fmt.Fprintf(&b, "  body bytes  %d (%s/s), %d connections opened\n", r.BodyBytes, humanBytes(float64(r.BodyBytes)/max(r.ElapsedSeconds, 1e-9)), r.Connects)
	l := r.Latency
	fmt.Fprintf(&b, "  latency ms  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, min %s)\n",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean), ms(l.Min))
	b.WriteString("  status     ")
	if len(r.StatusCodes) == 0 {
		b.WriteString(" none")
	}
	for _, code := range slices.Sorted(maps.Keys(r.StatusCodes)) {
		fmt.Fprintf(&b, " %s: %d", code, r.StatusCodes[code])
	}
	b.WriteString("\n")
	if r.CountedHeader != "" {
		fmt.Fprintf(&b, "  %-11s", r.CountedHeader)
		if len(r.HeaderValues) == 0 {
			b.WriteString(" none")
		}
		for _, v := range slices.Sorted(maps.Keys(r.HeaderValues)) {
			fmt.Fprintf(&b, " %s: %d", v, r.HeaderValues[v])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  errors      %d transport, %d 5xx", r.TransportErrors, r.ServerErrors)
	if r.Mode == "open" {
		fmt.Fprintf(&b, ", %d missed (no free connection in time)", r.Missed)
	}
	b.WriteString("\n")
	for _, k := range slices.Sorted(maps.Keys(r.ErrorKinds)) {
		fmt.Fprintf(&b, "    %-30s %d\n", k, r.ErrorKinds[k])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if r.Metrics != nil {
		return r.Metrics.WriteText(w)
	}
	return nil
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// HeaderShare is the share of the answers whose counted header had the
// value v (0 when no answer was counted).
func (r *Report) HeaderShare(v string) float64 {
	var total int64
	for _, n := range r.HeaderValues {
		total += n
	}
	if total == 0 {
		return 0
	}
	return float64(r.HeaderValues[v]) / float64(total)
}
