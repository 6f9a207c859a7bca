package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// Targets are the URLs to load, chosen per request by weight.
	Targets []Target
	// Method is the HTTP method (default GET).
	Method string
	// Header is sent with every request.
	Header http.Header
	// Connections is the number of concurrent connections (workers) (default 1).
	Connections int
	// Rate, when > 0, makes the run an open loop at that many requests per second;
	// 0 is a closed loop where each connection sends as fast as answers arrive.
	Rate float64
	// Duration bounds the run; it is required (> 0): a run without end is refused.
	Duration time.Duration
	// MaxRequests, when > 0, also ends the run after that many requests.
	MaxRequests int64
	// Timeout bounds each request, answer body included (default 10s).
	Timeout time.Duration
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Progress, when set, is called about once a second while the run
	// lasts, and at least once when the run lasted a second or more.
	Progress func(Progress)
	// MetricsURL, when set, is the relay's admin /metrics URL: it is scraped
	// before and after the run and the difference goes into Report.Metrics.
	MetricsURL string
	// Probes are read at the start, once per timeline interval and at the
	// end of the run (Report.Probes); see MetricsProbe and Probe.
	Probes []Probe
	// CountHeader, when set, names a response header whose values are
	// counted (Report.HeaderValues): X-Cache, say, for how many answers a
	// cache in front served as hits, whoever the cache is.
	CountHeader string
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Requests is the number of finished requests (answers and transport errors).
	Requests int64
	// Errors is the number of transport errors.
	Errors int64
	// RequestsPerSecond is the rate over the last interval.
	RequestsPerSecond float64
}

const defaultTimeout = 10 * time.Second

// ErrInvalidConfig is wrapped by the errors Run returns for a configuration it refuses.
var ErrInvalidConfig = errors.New("invalid load configuration")

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Connections == 0 {
		cfg.Connections = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	switch {
	case cfg.Duration <= 0:
		return cfg, fmt.Errorf("%w: a duration > 0 is required: runs are always bounded in time", ErrInvalidConfig)
	case cfg.Connections < 0:
		return cfg, fmt.Errorf("%w: connections %d: must be >= 1", ErrInvalidConfig, cfg.Connections)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return cfg, fmt.Errorf("%w: rate %v: must be a number >= 0", ErrInvalidConfig, cfg.Rate)
	case cfg.MaxRequests < 0:
		return cfg, fmt.Errorf("%w: max requests %d: must be >= 0", ErrInvalidConfig, cfg.MaxRequests)
	case cfg.Timeout < 0:
		return cfg, fmt.Errorf("%w: timeout %v: must be > 0", ErrInvalidConfig, cfg.Timeout)
	case len(cfg.Targets) == 0:
		return cfg, fmt.Errorf("%w: no targets: give at least one URL", ErrInvalidConfig)
	}
	names := map[string]bool{}
	for _, p := range cfg.Probes {
		if p.Name == "" || p.Read == nil || names[p.Name] {
			return cfg, fmt.Errorf("%w: probe %q: a probe needs a name of its own and a Read function", ErrInvalidConfig, p.Name)
		}
		names[p.Name] = true
	}
	return cfg, nil
}

// run holds the state of one load run.
type run struct {
	cfg      Config
	picker   *picker
	wire     []wireRequest // serialized request per static target
	head     bool          // the method is HEAD, whose answers have no body
	connects atomic.Int64
	shards   []*shard
	timeline *timelineRec
	start    time.Time
	deadline time.Time
	issued   atomic.Int64
	aborted  atomic.Int64
	ctx      context.Context // canceled when the caller gives up
}

// Run performs a load run and returns its report. It returns an error when the
// configuration is invalid (wrapping ErrInvalidConfig) or when MetricsURL cannot
// be read before the run; failed requests are counted in the report.
// Canceling ctx ends the run early; the report then covers what was done.
func Run(ctx context.Context, c Config) (*Report, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := newPicker(cfg.Targets)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r := &run{cfg: cfg, picker: p, ctx: ctx, head: cfg.Method == http.MethodHead}
	if cfg.Header == nil {
		r.cfg.Header = http.Header{}
	}
	for i, t := range cfg.Targets {
		var w wireRequest
		if !p.dynamic[i] {
			if w, err = newWireRequest(cfg.Method, t.URL, r.cfg.Header); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
			}
		}
		r.wire = append(r.wire, w)
	}
	var (
		metricsClient *http.Client
		before        *MetricsSample
	)
	if cfg.MetricsURL != "" {
		metricsClient = newMetricsClient(cfg.Insecure)
		defer metricsClient.CloseIdleConnections()
		if before, err = ScrapeMetrics(ctx, metricsClient, cfg.MetricsURL); err != nil {
			return nil, fmt.Errorf("before the run: %w", err)
		}
	}
	nShards := min(cfg.Connections, 4*runtime.GOMAXPROCS(0))
	r.timeline = &timelineRec{width: interval(cfg.Duration)}
	for range nShards {
		r.shards = append(r.shards, newShard(r.timeline))
	}

	probes := newProbes(cfg.Probes, r.timeline.width)
	probes.first(ctx)
	r.start = time.Now()
	r.deadline = r.start.Add(cfg.Duration)
	probes.run(ctx, r.start)
	var (
		wg      sync.WaitGroup
		tickets chan time.Time
		missed  int64
	)
	if cfg.Rate > 0 {
		tickets = make(chan time.Time)
	}
	for i := range cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(r.start.UnixNano())))
			w := &worker{run: r, shard: r.shards[i%len(r.shards)], rng: rng, conns: map[endpoint]*conn{}}
			defer w.closeAll()
			if tickets != nil {
				w.open(tickets)
			} else {
				w.closed()
			}
		}()
	}
	stopProgress := r.progress()
	if tickets != nil {
		missed = r.schedule(tickets)
		close(tickets)
	}
	wg.Wait()
	stopProgress()
	rep := r.report(time.Since(r.start), missed)
	rep.Probes = probes.finish(ctx, r.start)
	if metricsClient != nil {
		// The caller may have canceled ctx to end the run early; the report
		// should still say what the relay did meanwhile.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		after, err := ScrapeMetrics(sctx, metricsClient, cfg.MetricsURL)
		if err != nil {
			rep.Metrics = &MetricsDelta{Warnings: []string{"after the run: " + err.Error()}}
		} else {
			rep.Metrics = DiffMetrics(before, after)
		}
	}
	return rep, nil
}

// worker sends requests one at a time over its own keep-alive connections.
type worker struct {
	*run
	shard *shard
	rng   *rand.Rand
	conns map[endpoint]*conn
}

// closed sends requests back to back until the run ends.
func (w *worker) closed() {
	for w.ctx.Err() == nil {
		now := time.Now()
		if !now.Before(w.deadline) || !w.take() {
			return
		}
		w.do(now)
	}
}

// open sends one request per ticket; latency counts from the ticket's
// intended time, so time spent waiting for a free connection is included.
func (w *worker) open(tickets <-chan time.Time) {
	for intended := range tickets {
		if w.ctx.Err() != nil {
			continue // drain: the scheduler stops soon
		}
		w.do(intended)
	}
}

func (w *worker) closeAll() {
	for ep, c := range w.conns {
		c.close()
		delete(w.conns, ep)
	}
}

// take reserves one request of the MaxRequests budget.
func (r *run) take() bool {
	if r.cfg.MaxRequests <= 0 {
		return true
	}
	return r.issued.Add(1) <= r.cfg.MaxRequests
}

// schedule hands out tickets at the configured rate until the run ends and
// returns how many intended requests found no free connection in time.
func (r *run) schedule(tickets chan<- time.Time) (missed int64) {
	rate := r.cfg.Rate
	expected := int64(math.Ceil(r.cfg.Duration.Seconds() * rate))
	if r.cfg.MaxRequests > 0 {
		expected = min(expected, r.cfg.MaxRequests)
	}
	// Requests intended before the deadline may still be sent up to one
	// timeout later (their latency counts the wait); after that they are missed.
	end := time.NewTimer(time.Until(r.deadline.Add(r.cfg.Timeout)))
	defer end.Stop()
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()
	var sent int64
	for sent < expected {
		intended := r.start.Add(time.Duration(float64(sent) * float64(time.Second) / rate))
		if !intended.Before(r.deadline) {
			break
		}
		if d := time.Until(intended); d > 0 {
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-r.ctx.Done():
				return 0
			case <-end.C:
				return expected - sent
			}
		}
		select {
		case tickets <- intended:
			sent++
		case <-r.ctx.Done():
			return 0
		case <-end.C:
			return expected - sent
		}
	}
	return 0
}

// do sends one request and records its outcome, latency counted from since.
func (w *worker) do(since time.Time) {
	i := w.picker.pick(w.rng)
	req := w.wire[i]
	if w.picker.dynamic[i] {
		var err error
		if req, err = newWireRequest(w.cfg.Method, w.picker.expand(i, w.rng), w.cfg.Header); err != nil {
			now := time.Now()
			w.shard.record(now.Sub(since), now.Sub(w.start), 0, 0, fmt.Errorf("building request: %w", err))
			return
		}
	}
	code, n, hv, err := w.send(req)
	if err != nil && w.ctx.Err() != nil {
		w.aborted.Add(1) // the caller gave up; not the server's fault
		return
	}
	now := time.Now()
	w.shard.record(now.Sub(since), now.Sub(w.start), code, n, err)
	if w.cfg.CountHeader != "" && err == nil {
		w.shard.countHeader(hv)
	}
}

// send performs one request on the worker's connection to the target's
// endpoint, dialing when needed; a request that meets a keep-alive connection
// the server just closed is sent once more on a fresh connection. hv is the
// answer's value of the header the run counts.
func (w *worker) send(req wireRequest) (code int, n int64, hv string, err error) {
	deadline := time.Now().Add(w.cfg.Timeout)
	for attempt := 0; ; attempt++ {
		c := w.conns[req.ep]
		if c == nil {
			c, err = dial(w.ctx, req.ep, time.Until(deadline), w.cfg.Insecure)
			if err != nil {
				return 0, 0, "", fmt.Errorf("connecting: %w", err)
			}
			w.connects.Add(1)
			w.conns[req.ep] = c
		}
		var a answer
		a, err = c.roundTrip(req, w.head, w.cfg.CountHeader, deadline)
		code, n, hv = a.code, a.n, a.hv
		if !a.keep || err != nil {
			c.close()
			delete(w.conns, req.ep)
		}
		if errors.Is(err, errRetry) && attempt == 0 {
			continue
		}
		return code, n, hv, err
	}
}

// progress starts the once-a-second progress callback and returns its stop function.
func (r *run) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	tick := time.NewTicker(time.Second)
	go func() {
		defer close(finished)
		defer tick.Stop()
		var last int64
		lastAt := r.start
		report := func(now time.Time) {
			var count, errs int64
			for _, s := range r.shards {
				c, e := s.totals()
				count += c
				errs += e
			}
			rps := float64(count-last) / now.Sub(lastAt).Seconds()
			last, lastAt = count, now
			r.cfg.Progress(Progress{Elapsed: now.Sub(r.start), Requests: count, Errors: errs, RequestsPerSecond: rps})
		}
		for {
			select {
			case <-done:
				// A run that lasted a second is reported at least once,
				// however late a busy machine ran this goroutine.
				if now := time.Now(); lastAt.Equal(r.start) && now.Sub(r.start) >= time.Second {
					report(now)
				}
				return
			case now := <-tick.C:
				report(now)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
