package loadtest

import (
	"context"
	"sync"
	"time"
)

// Probe reads one number from the system under load: a counter (the
// upstream's calls so far) or a gauge (ready replicas). A run reads each of
// its probes when it starts, once per timeline interval while it lasts, and
// when it ends, so that the number can be drawn against the run's
// throughput and latency on one time axis.
type Probe struct {
	// Name says what is read ("upstream calls", "ready replicas").
	Name string
	// Counter says the number only grows (calls so far): charts show its
	// increase per second rather than its value.
	Counter bool
	// Read returns the number now; ctx bounds it (one interval).
	Read func(ctx context.Context) (float64, error)
}

// ProbeSeries is what one probe read during a run.
type ProbeSeries struct {
	Name    string   `json:"name"`
	Counter bool     `json:"counter,omitempty"`
	Samples []Sample `json:"samples"`
	// Failures counts reads that failed; LastError is the last one's reason.
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Sample is one reading, at Seconds from the run's start.
type Sample struct {
	Seconds float64 `json:"seconds"`
	Value   float64 `json:"value"`
}

// Increases returns, for a counter, how much it grew per second between
// consecutive samples, each placed at the later sample's time.
func (p ProbeSeries) Increases() []Sample {
	out := make([]Sample, 0, len(p.Samples))
	for i := 1; i < len(p.Samples); i++ {
		a, b := p.Samples[i-1], p.Samples[i]
		if dt := b.Seconds - a.Seconds; dt > 0 {
			out = append(out, Sample{Seconds: b.Seconds, Value: (b.Value - a.Value) / dt})
		}
	}
	return out
}

// Total returns a counter's increase from the first sample to the last.
func (p ProbeSeries) Total() float64 {
	if len(p.Samples) < 2 {
		return 0
	}
	return p.Samples[len(p.Samples)-1].Value - p.Samples[0].Value
}

// prober reads one probe for a run.
type prober struct {
	probe  Probe
	mu     sync.Mutex
	series ProbeSeries
}

// read reads the probe, bounded by timeout, and keeps the value at the
// offset at() returns once the value is in.
func (p *prober) read(ctx context.Context, timeout time.Duration, at func() float64) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := p.probe.Read(rctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.series.Failures++
		p.series.LastError = err.Error()
		return
	}
	p.series.Samples = append(p.series.Samples, Sample{Seconds: max(0, at()), Value: v})
}

// probes are the probers of a run.
type probes struct {
	all   []*prober
	width time.Duration
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newProbes(list []Probe, width time.Duration) *probes {
	ps := &probes{width: width, stop: make(chan struct{})}
	for _, p := range list {
		ps.all = append(ps.all, &prober{probe: p, series: ProbeSeries{Name: p.Name, Counter: p.Counter}})
	}
	return ps
}

// each reads every probe at once, each on its own goroutine, and waits.
func (ps *probes) each(ctx context.Context, at func() float64) {
	var wg sync.WaitGroup
	for _, pr := range ps.all {
		wg.Go(func() { pr.read(ctx, ps.width, at) })
	}
	wg.Wait()
}

// first reads every probe before the run starts: the samples at 0 s.
func (ps *probes) first(ctx context.Context) {
	ps.each(ctx, func() float64 { return 0 })
}

// run reads every probe once per interval from start until finish, each
// on its own so that a slow one delays no other.
func (ps *probes) run(ctx context.Context, start time.Time) {
	for _, pr := range ps.all {
		ps.wg.Go(func() {
			t := time.NewTicker(ps.width)
			defer t.Stop()
			for {
				select {
				case <-ps.stop:
					return
				case <-ctx.Done():
					return
				case <-t.C:
					pr.read(ctx, ps.width, func() float64 { return time.Since(start).Seconds() })
				}
			}
		})
	}
}

// finish stops the probes, reads each one last time (even when ctx has
// been canceled to end the run early) and returns what they read.
func (ps *probes) finish(ctx context.Context, start time.Time) []ProbeSeries {
	if len(ps.all) == 0 {
		return nil
	}
	close(ps.stop)
	ps.wg.Wait()
	ps.each(context.WithoutCancel(ctx), func() float64 { return time.Since(start).Seconds() })
	out := make([]ProbeSeries, 0, len(ps.all))
	for _, pr := range ps.all {
		pr.mu.Lock()
		out = append(out, pr.series)
		pr.mu.Unlock()
	}
	return out
}
