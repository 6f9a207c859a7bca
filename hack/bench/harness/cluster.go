package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// The cluster scenario: three relays in front of one upstream, the load
// spread over them, once with each relay's cache its own and once with the
// shared tier on one real redis-server; and one relay on one hot key with
// and without the tier, where every request is an L1 hit that must not
// touch the network.
const (
	clusterRelays  = 3
	clusterTTL     = time.Second
	clusterLatency = 50 * time.Millisecond
	clusterHotTTL  = 10 * time.Second
)

// Names of the cluster scenario's runs.
const (
	clusterAlone  = "3 relays"
	clusterShared = "3 relays + shared tier"
	hotAlone      = "1 relay, hot key"
	hotShared     = "1 relay, hot key + shared tier"
)

// metric names of the shared tier.
const (
	metricSharedLookups = "restaurants_shared_cache_lookups_total"
	metricSharedErrors  = "restaurants_shared_cache_errors_total"
	metricLeaseWaits    = "restaurants_shared_cache_lease_waits_total"
)

// ClusterResult is the cluster scenario.
type ClusterResult struct {
	Relays          int     `json:"relays"`
	TTLSeconds      float64 `json:"ttl_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Keys            int     `json:"keys"`
	Connections     int     `json:"connections"`
	HotTTLSeconds   float64 `json:"hot_ttl_seconds"`
	HotSeconds      float64 `json:"hot_seconds"`
	HotRounds       int     `json:"hot_rounds"`
	// Skipped says why the scenario did not run (no redis-server).
	Skipped string       `json:"skipped,omitempty"`
	Runs    []ClusterRun `json:"runs,omitempty"`
}

// ClusterRun is one load run: the three relays or the single one, with or
// without the shared tier.
type ClusterRun struct {
	Name   string `json:"name"`
	Round  int    `json:"round"`
	Relays int    `json:"relays"`
	Shared bool   `json:"shared"`
	// Keys is the run's distinct keys, over the TTL of TTLSeconds.
	Keys       int              `json:"keys"`
	TTLSeconds float64          `json:"ttl_seconds"`
	Report     *loadtest.Report `json:"report"`
	// UpstreamCalls is what the one stand-in behind the relays served.
	UpstreamCalls int64 `json:"upstream_calls"`
	// Metrics sums what each relay's metrics counted during the run;
	// SharedLookups, SharedErrors and LeaseWaits are the shared tier's.
	Metrics       *loadtest.MetricsDelta `json:"metrics,omitempty"`
	SharedLookups map[string]float64     `json:"shared_lookups,omitempty"`
	SharedErrors  map[string]float64     `json:"shared_errors,omitempty"`
	LeaseWaits    float64                `json:"lease_waits,omitempty"`
	// CPUMicrosPerRequest is the relays' CPU time (user+system) per
	// request, in microseconds; 0 when not measured.
	CPUMicrosPerRequest float64  `json:"cpu_us_per_request"`
	Flags               []string `json:"relay_flags,omitempty"`
}

// CallsPerKeyPerTTL is the run's upstream calls per key and TTL period.
func (r *ClusterRun) CallsPerKeyPerTTL() float64 {
	periods := max(1, r.Report.DurationSeconds/r.TTLSeconds)
	return float64(r.UpstreamCalls) / (float64(r.Keys) * periods)
}

// runCluster runs the scenario, or records why it cannot: it needs
// redis-server.
func runCluster(ctx context.Context, o Options) (*ClusterResult, error) {
	cr := &ClusterResult{Relays: clusterRelays, TTLSeconds: clusterTTL.Seconds(), DurationSeconds: o.ClusterDuration.Seconds(),
		Keys: len(allTargets("")), Connections: o.Connections, HotTTLSeconds: clusterHotTTL.Seconds(),
		HotSeconds: clusterHotDuration(o).Seconds(), HotRounds: o.Rounds}
	fmt.Fprintf(o.Log, "== %s: %s\n", ScenarioCluster, cr.title())
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	redis, err := e.startRedis(ctx)
	if errors.Is(err, errNoRedis) {
		cr.Skipped = "skipped: " + err.Error()
		fmt.Fprintf(o.Log, "   %s\n", cr.Skipped)
		return cr, nil
	}
	if err != nil {
		return cr, err
	}
	for _, shared := range []bool{false, true} {
		run, err := clusterOnce(ctx, o, redis, shared)
		if err != nil {
			return cr, err
		}
		fmt.Fprintf(o.Log, "   %-32s %s\n", run.Name+":", run.line())
		cr.Runs = append(cr.Runs, *run)
	}
	runs, err := hotPair(ctx, o, redis)
	cr.Runs = append(cr.Runs, runs...)
	return cr, err
}

// clusterHotDuration is the length of one single-relay hot-key run: half
// of -d, as the pair runs o.Rounds times each.
func clusterHotDuration(o Options) time.Duration {
	return max(time.Second, o.Duration/2)
}

// benchSigningKey signs the entries the bench's relays write to their
// shared tier: a redis-server on loopback that lives for one run.
const benchSigningKey = "bench-only-signing-key-of-the-loopback-tier"

// sharedFlags are the relay flags for the shared tier at url.
func sharedFlags(url string) []string {
	return []string{"--shared-cache=" + url, "--shared-cache-signing-key=" + benchSigningKey}
}

// clusterOnce starts one stand-in and three relays in front of it, with or
// without the shared tier (emptied first), and loads them together: every
// request goes to one of the three at random.
func clusterOnce(ctx context.Context, o Options, redis *redisServer, shared bool) (*ClusterRun, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	up, err := e.startStandIn(ctx, fmt.Sprintf("menu-api-cluster-shared-%v", shared), clusterLatency)
	if err != nil {
		return nil, err
	}
	flags := noBudget()
	name := clusterAlone
	if shared {
		if err := redis.flush(); err != nil {
			return nil, err
		}
		flags, name = append(flags, sharedFlags(redis.url())...), clusterShared
	}
	args := relayArgs{ttl: clusterTTL, negativeTTL: 5 * time.Second, cacheMB: 64, keys: 1000, flags: flags}
	var relays []*system
	var targets []loadtest.Target
	for range clusterRelays {
		s, err := e.startRelay(ctx, up, args, e.variant(SystemRelay))
		if err != nil {
			return nil, err
		}
		relays = append(relays, s)
		targets = append(targets, allTargets(s.base)...)
	}
	if shared && !hasFlag(relays[0].flags, "shared-cache") {
		return nil, fmt.Errorf("the relay build has no --shared-cache")
	}
	run := &ClusterRun{Name: name, Round: 1, Relays: clusterRelays, Shared: shared, Keys: len(allTargets("")), TTLSeconds: clusterTTL.Seconds(), Flags: relays[0].flags}
	err = measureRelays(ctx, run, relays, up, loadtest.Config{Targets: targets, Connections: o.Connections, Duration: o.ClusterDuration,
		Timeout: 10 * time.Second, Probes: []loadtest.Probe{upstreamProbe(up)}})
	return run, err
}

// hotPair runs one relay without and one with the shared tier on one hot
// key, o.Rounds times each, alternating A B B A ..., so that a drift of the
// machine's load favours neither.
func hotPair(ctx context.Context, o Options, redis *redisServer) ([]ClusterRun, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	if err := redis.flush(); err != nil {
		return nil, err
	}
	type side struct {
		name   string
		shared bool
		relay  *system
		up     *standIn
	}
	sides := []*side{{name: hotAlone}, {name: hotShared, shared: true}}
	for _, sd := range sides {
		up, err := e.startStandIn(ctx, fmt.Sprintf("menu-api-hot-shared-%v", sd.shared), clusterLatency)
		if err != nil {
			return nil, err
		}
		flags := noBudget()
		if sd.shared {
			flags = append(flags, sharedFlags(redis.url())...)
		}
		s, err := e.startRelay(ctx, up, relayArgs{ttl: clusterHotTTL, negativeTTL: 5 * time.Second, cacheMB: 64, keys: 1000, flags: flags}, e.variant(SystemRelay))
		if err != nil {
			return nil, err
		}
		sd.relay, sd.up = s, up
	}
	var runs []ClusterRun
	for round := 1; round <= o.Rounds; round++ {
		order := sides
		if round%2 == 0 {
			order = []*side{sides[1], sides[0]}
		}
		for _, sd := range order {
			run := &ClusterRun{Name: sd.name, Round: round, Relays: 1, Shared: sd.shared, Keys: 1, TTLSeconds: clusterHotTTL.Seconds(), Flags: sd.relay.flags}
			err := measureRelays(ctx, run, []*system{sd.relay}, sd.up, loadtest.Config{Targets: hotTargets(sd.relay.base), Connections: o.Connections,
				Duration: clusterHotDuration(o), Timeout: 10 * time.Second, Probes: []loadtest.Probe{upstreamProbe(sd.up)}})
			if err != nil {
				return runs, err
			}
			fmt.Fprintf(o.Log, "   %-32s %s\n", fmt.Sprintf("%s, round %d:", run.Name, round), run.line())
			runs = append(runs, *run)
		}
	}
	return runs, nil
}

func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		if flagName(f) == name {
			return true
		}
	}
	return false
}

// measureRelays runs the load and fills run with its report, the
// upstream's calls and the relays' metrics, summed.
func measureRelays(ctx context.Context, run *ClusterRun, relays []*system, up *standIn, cfg loadtest.Config) error {
	client := metricsClient()
	befores := make([]*loadtest.MetricsSample, len(relays))
	for i, s := range relays {
		var err error
		if befores[i], err = loadtest.ScrapeMetrics(ctx, client, s.metricsURL); err != nil {
			return err
		}
	}
	callsBefore, err := up.requests(ctx)
	if err != nil {
		return err
	}
	cpu := func() (time.Duration, bool) {
		var total time.Duration
		for _, s := range relays {
			if s.cpu == nil {
				return 0, false
			}
			c, err := s.cpu()
			if err != nil {
				return 0, false
			}
			total += c
		}
		return total, true
	}
	cpuBefore, cpuOK := cpu()
	if run.Report, err = loadtest.Run(ctx, cfg); err != nil {
		return err
	}
	if cpuAfter, ok := cpu(); ok && cpuOK && run.Report.Requests > 0 {
		run.CPUMicrosPerRequest = (cpuAfter - cpuBefore).Seconds() * 1e6 / float64(run.Report.Requests)
	}
	callsAfter, err := up.requests(ctx)
	if err != nil {
		return err
	}
	run.UpstreamCalls = callsAfter - callsBefore
	run.Metrics = &loadtest.MetricsDelta{RequestsByCache: map[string]float64{}, UpstreamByOutcome: map[string]float64{}}
	run.SharedLookups, run.SharedErrors = map[string]float64{}, map[string]float64{}
	for i, s := range relays {
		after, err := loadtest.ScrapeMetrics(ctx, client, s.metricsURL)
		if err != nil {
			return err
		}
		if err := s.alive(); err != nil {
			return err
		}
		d := loadtest.DiffMetrics(befores[i], after)
		run.Metrics.Requests += d.Requests
		run.Metrics.UpstreamCalls += d.UpstreamCalls
		run.Metrics.StaleServed += d.StaleServed
		run.Metrics.CoalescedWaits += d.CoalescedWaits
		addTo(run.Metrics.RequestsByCache, d.RequestsByCache)
		addTo(run.Metrics.UpstreamByOutcome, d.UpstreamByOutcome)
		addTo(run.SharedLookups, diffByLabel(befores[i], after, metricSharedLookups, "result"))
		addTo(run.SharedErrors, diffByLabel(befores[i], after, metricSharedErrors, "op"))
		run.LeaseWaits += after.Sum(metricLeaseWaits) - befores[i].Sum(metricLeaseWaits)
	}
	if run.Metrics.Requests > 0 {
		run.Metrics.HitRatio = run.Metrics.RequestsByCache["hit"] / run.Metrics.Requests
	}
	return nil
}

func addTo(dst, src map[string]float64) {
	for k, v := range src {
		dst[k] += v
	}
}

// line is the run's numbers for the progress log.
func (r *ClusterRun) line() string {
	l := r.Report.Latency
	return fmt.Sprintf("%8.0f req/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f ms  errors %d  upstream calls %d  shared hits %.0f  CPU %.1f µs/req",
		r.Report.RequestsPerSecond, l.P50, l.P99, l.P999, r.Report.Errors(), r.UpstreamCalls, r.Metrics.RequestsByCache["shared_hit"], r.CPUMicrosPerRequest)
}

func (cr *ClusterResult) title() string {
	return fmt.Sprintf("%d relays in front of one upstream, the load (c=%d, the list + %d restaurants) spread over them, TTL %gs for %gs, without and with the shared tier (one redis-server); beside them one relay on one hot key, without and with the tier",
		cr.Relays, cr.Connections, cr.Keys-1, cr.TTLSeconds, cr.DurationSeconds)
}

func (cr *ClusterResult) about() string {
	return fmt.Sprintf("Each request goes to one of the %d relays at random. The relays' caches start empty (and the tier is emptied); every relay runs with --upstream-rate=0. "+
		"The hot-key pair: TTL %gs, %d run(s) of %gs each, alternating; every request there is a hit in the relay's own cache, which never touches the network.",
		cr.Relays, cr.HotTTLSeconds, cr.HotRounds, cr.HotSeconds)
}

// summary is the median over a name's rounds.
type clusterSummary struct {
	name                string
	rps, p50, p99, p999 float64
	errors              int64
	calls               float64 // per run
	perKeyPerTTL        float64
	cpu                 float64 // µs per request
	sharedHits          float64
	run                 *ClusterRun // the first round
}

func (cr *ClusterResult) summaries() []clusterSummary {
	var out []clusterSummary
	for _, name := range []string{clusterAlone, clusterShared, hotAlone, hotShared} {
		var rps, p50, p99, p999, calls, per, cpu []float64
		s := clusterSummary{name: name}
		for i := range cr.Runs {
			r := &cr.Runs[i]
			if r.Name != name {
				continue
			}
			if s.run == nil {
				s.run = r
			}
			l := r.Report.Latency
			rps, p50, p99, p999 = append(rps, r.Report.RequestsPerSecond), append(p50, l.P50), append(p99, l.P99), append(p999, l.P999)
			calls, per, cpu = append(calls, float64(r.UpstreamCalls)), append(per, r.CallsPerKeyPerTTL()), append(cpu, r.CPUMicrosPerRequest)
			s.errors += r.Report.Errors()
			s.sharedHits += r.Metrics.RequestsByCache["shared_hit"]
		}
		if s.run == nil {
			continue
		}
		s.rps, s.p50, s.p99, s.p999, s.calls, s.perKeyPerTTL, s.cpu = median(rps), median(p50), median(p99), median(p999), median(calls), median(per), median(cpu)
		out = append(out, s)
	}
	return out
}

// find returns the summary of a name (nil when it did not run).
func find(sums []clusterSummary, name string) *clusterSummary {
	for i := range sums {
		if sums[i].name == name {
			return &sums[i]
		}
	}
	return nil
}

// table returns the runs as table rows: each with the tier against the
// same shape without it, and everything against the single relay's hot key.
func (cr *ClusterResult) table() (header []string, rows [][]string) {
	header = []string{"run", "relays", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "upstream calls/run", "calls per key per TTL",
		"shared hits", "CPU µs/req", "req/s vs without tier", "p99 vs without tier", "CPU/req vs without tier", "req/s vs 1 relay hot", "p99 vs 1 relay hot"}
	sums := cr.summaries()
	hot := find(sums, hotAlone)
	for _, s := range sums {
		var ref *clusterSummary
		switch s.name {
		case clusterShared:
			ref = find(sums, clusterAlone)
		case hotShared:
			ref = hot
		}
		rr, r99, rcpu, hr, h99 := "-", "-", "-", "-", "-"
		if ref != nil {
			rr, r99, rcpu = ratio(s.rps, ref.rps), ratio(s.p99, ref.p99), ratio(s.cpu, ref.cpu)
		}
		if hot != nil {
			hr, h99 = ratio(s.rps, hot.rps), ratio(s.p99, hot.p99)
		}
		per := "-" // a run shorter than two TTLs does not measure it
		if s.run.Report.DurationSeconds >= 2*s.run.TTLSeconds {
			per = fmt.Sprintf("%.2f", s.perKeyPerTTL)
		}
		rows = append(rows, []string{s.name, fmt.Sprint(s.run.Relays), fmt.Sprintf("%.0f", s.rps), fmt.Sprintf("%.3f", s.p50), fmt.Sprintf("%.3f", s.p99),
			fmt.Sprintf("%.3f", s.p999), fmt.Sprint(s.errors), fmt.Sprintf("%.1f", s.calls), per,
			fmt.Sprintf("%.0f", s.sharedHits), fmt.Sprintf("%.1f", s.cpu), rr, r99, rcpu, hr, h99})
	}
	return header, rows
}

// findings say what the runs show against the goals: about one call per
// key per TTL with the tier, about one per relay without it, and no cost
// for L1 hits.
func (cr *ClusterResult) findings() []string {
	if cr.Skipped != "" {
		return []string{cr.Skipped}
	}
	var out []string
	sums := cr.summaries()
	alone, shared := find(sums, clusterAlone), find(sums, clusterShared)
	if alone != nil && shared != nil {
		out = append(out, fmt.Sprintf("upstream calls per key per TTL: %.2f with the shared tier, %.2f without it (%d keys, %.0f TTL periods; expected about 1 and about %d)",
			shared.perKeyPerTTL, alone.perKeyPerTTL, cr.Keys, cr.DurationSeconds/cr.TTLSeconds, cr.Relays))
		out = append(out, fmt.Sprintf("3 relays: %.0f req/s and p99 %.3f ms with the tier, %.0f req/s and p99 %.3f ms without (%s x the req/s, %s x the p99)",
			shared.rps, shared.p99, alone.rps, alone.p99, ratio(shared.rps, alone.rps), ratio(shared.p99, alone.p99)))
	}
	if a, s := find(sums, hotAlone), find(sums, hotShared); a != nil && s != nil {
		out = append(out, fmt.Sprintf("1 relay, hot key: %.0f req/s, p99 %.3f ms and %.1f µs CPU per request with the tier, %.0f req/s, p99 %.3f ms and %.1f µs without (%s x the req/s, %s x the p99, %s x the CPU; medians of %d runs)",
			s.rps, s.p99, s.cpu, a.rps, a.p99, a.cpu, ratio(s.rps, a.rps), ratio(s.p99, a.p99), ratio(s.cpu, a.cpu), cr.HotRounds))
	}
	for _, s := range sums {
		r := s.run
		m := r.Metrics
		line := fmt.Sprintf("%s metrics (all relays, first run): %.0f requests, by cache %s, upstream calls %s", s.name, m.Requests, cacheSplit(m.RequestsByCache), cacheSplit(m.UpstreamByOutcome))
		if r.Shared {
			line += fmt.Sprintf("; shared tier lookups %s, errors %s, lease waits %.0f", cacheSplit(r.SharedLookups), cacheSplit(r.SharedErrors), r.LeaseWaits)
		}
		out = append(out, line)
	}
	if s := find(sums, clusterShared); s != nil {
		out = append(out, "relay flags with the tier: "+flagsText(s.run.Flags))
	}
	return out
}

// writeTable prints the scenario as Markdown.
func (cr *ClusterResult) writeTable(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s: %s\n", ScenarioCluster, cr.title())
	if cr.Skipped == "" {
		fmt.Fprintf(&b, "%s\n\n", cr.about())
		h, rows := cr.table()
		writeMarkdown(&b, h, rows)
		b.WriteString("\n")
	}
	for _, f := range cr.findings() {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	_, _ = io.WriteString(w, b.String())
}

// section is the scenario in the report: the upstream's calls over time
// with and without the tier, the latency spectra, the table.
func (cr *ClusterResult) section() report.Section {
	s := report.Section{ID: ScenarioCluster, Title: ScenarioCluster + ": " + cr.title(), Items: cr.findings()}
	if cr.Skipped != "" {
		return s
	}
	s.Notes = []string{cr.about()}
	var calls, spectrum, throughput []report.Series
	for _, sum := range cr.summaries() {
		rep := sum.run.Report
		spectrum = append(spectrum, loadchart.Spectrum(rep, sum.name))
		if sum.run.Relays > 1 {
			if ps, ok := rep.Probe("upstream calls"); ok {
				calls = append(calls, loadchart.Probe(ps, sum.name))
			}
			throughput = append(throughput, loadchart.Throughput(rep, sum.name))
		}
	}
	up := loadchart.RateChart(ScenarioCluster+"-upstream", ScenarioCluster+": upstream calls over time, 3 relays", "upstream calls per second", nil, calls...)
	up.Caption = fmt.Sprintf("The one stand-in's /-/stats, read every second: %d keys expire every second, so one call per key per TTL is %d calls a second.", cr.Keys, cr.Keys)
	s.Charts = []report.Chart{up,
		loadchart.SpectrumChart(ScenarioCluster+"-spectrum", ScenarioCluster+": latency by percentile (first round)", spectrum...),
		loadchart.RateChart(ScenarioCluster+"-throughput", ScenarioCluster+": throughput over time, 3 relays", "requests per second", nil, throughput...)}
	h, rows := cr.table()
	s.Tables = []report.Table{{Header: h, Rows: rows}}
	return s
}
