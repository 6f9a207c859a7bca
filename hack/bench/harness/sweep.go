package harness

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// SweepResult is how cost grows with work: the same kind of hits (one path,
// /restaurant?k=N, every key cached before it is measured) at more
// connections and over more distinct keys, for each system.
type SweepResult struct {
	DurationSeconds float64 `json:"duration_seconds"`
	// Path is the requests' path; {key} runs over 1..Keys.
	Path string `json:"path"`
	// BaseConnections and BaseKeys are the values the other dimension is swept at.
	BaseConnections int                 `json:"base_connections"`
	BaseKeys        int                 `json:"base_keys"`
	RelayFlags      map[string][]string `json:"relay_flags,omitempty"`
	Points          []SweepPoint        `json:"points"`
}

// SweepPoint is one setting of the sweep, measured on every system.
type SweepPoint struct {
	Connections int       `json:"connections"`
	Keys        int       `json:"keys"`
	Runs        []LoadRun `json:"runs"`
	// Skipped says why the point was not measured (the machine's file limit).
	Skipped string `json:"skipped,omitempty"`
}

// sweepPath is the path of the sweep's requests: the stand-in answers any
// query string with the same 200 body, so k=1..N are N distinct keys of
// equal size.
const sweepPath = "/restaurant?k="

// sortedUnique returns the positive values of xs, sorted, once each.
func sortedUnique(xs []int) []int {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// sweepPoints lists the sweep's settings in the order they run: the
// connection counts at the fewest keys, then the key counts at the fewest
// connections, so that every cache only grows and is warmed once per key.
func (o Options) sweepPoints() []SweepPoint {
	conns, keys := sortedUnique(o.SweepConnections), sortedUnique(o.SweepKeys)
	var pts []SweepPoint
	for _, c := range conns {
		pts = append(pts, SweepPoint{Connections: c, Keys: keys[0]})
	}
	for _, k := range keys[1:] {
		pts = append(pts, SweepPoint{Connections: conns[0], Keys: k})
	}
	return pts
}

// keyTargets are n equally weighted targets, one per key.
func keyTargets(base string, n int) []loadtest.Target {
	ts := make([]loadtest.Target, n)
	for i := range ts {
		ts[i] = loadtest.Target{URL: base + sweepPath + strconv.Itoa(i+1), Weight: 1}
	}
	return ts
}

// cacheMBFor sizes the caches so that keys entries of body bytes fit
// twice over (bigcache's shards and nginx's blocks waste some).
func cacheMBFor(keys, body int) int {
	return max(64, int(math.Ceil(float64(keys)*float64(body+1024)*2/(1<<20))))
}

// fileLimit is this process' open file limit (Go raises the soft limit
// to the hard one at start).
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

// tooManyConnections says why c connections cannot be opened here, or "".
func tooManyConnections(c int) string {
	need := uint64(c) + 256
	if lim := fileLimit(); lim < need {
		return fmt.Sprintf("skipped: the open file limit %d is below the %d that %d connections need (raise `ulimit -n`)", lim, need, c)
	}
	if lim := uint64(nginxOpenFiles()); lim < need {
		return fmt.Sprintf("skipped: nginx's workers could open %d files, %d connections need %d (raise the hard `ulimit -n`)", lim, c, need)
	}
	return ""
}

// runSweep measures every sweep point on every system: nginx (when
// present), the relay (and relay B) and the bare handler, each started once
// with a cache that holds every key for the whole sweep.
func runSweep(ctx context.Context, o Options, withNginx bool) (*SweepResult, error) {
	points := o.sweepPoints()
	maxKeys := slices.Max(o.SweepKeys)
	sw := &SweepResult{DurationSeconds: o.SweepDuration.Seconds(), Path: sweepPath + "{key}",
		BaseConnections: points[0].Connections, BaseKeys: points[0].Keys, RelayFlags: map[string][]string{}}
	fmt.Fprintf(o.Log, "== sweep: connections %v at %d keys, keys %v at c=%d, %v per run, all hits\n",
		sortedUnique(o.SweepConnections), sw.BaseKeys, sortedUnique(o.SweepKeys), sw.BaseConnections, o.SweepDuration)
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()

	// The answer every key gets, for the bare handler and to size the caches.
	up, err := e.startStandIn(ctx, "menu-api-for-body", 0)
	if err != nil {
		return nil, err
	}
	body, err := get(ctx, "http://"+up.addr+"/api"+sweepPath+"1")
	e.stopLast()
	if err != nil {
		return nil, err
	}
	args := relayArgs{ttl: time.Hour, negativeTTL: 5 * time.Second, cacheMB: cacheMBFor(maxKeys, len(body)), keys: maxKeys, flags: queryKeys()}
	var names []string
	if withNginx {
		names = append(names, SystemNginx)
	}
	names = append(names, SystemRelay)
	if o.RelayB != nil {
		names = append(names, SystemRelayB)
	}
	var systems []*system
	for _, name := range names {
		s, err := e.startSystem(ctx, name, 0, args, "")
		if err != nil {
			return nil, err
		}
		if s.metricsURL != "" {
			sw.RelayFlags[s.name] = s.flags
		}
		systems = append(systems, s)
	}
	bare, err := e.startBare(ctx, SystemBare, body)
	if err != nil {
		return nil, err
	}
	systems = append(systems, bare)
	return sw, sweepSystems(ctx, o, sw, points, systems)
}

// sweepSystems runs the points against the systems, warming each cache
// with the point's keys before measuring it, and each freshly started
// server with a second of unmeasured load before its first point.
func sweepSystems(ctx context.Context, o Options, sw *SweepResult, points []SweepPoint, systems []*system) error {
	warm := map[string]int{}
	warmedUp := false
	for _, pt := range points {
		if reason := tooManyConnections(pt.Connections); reason != "" {
			fmt.Fprintf(o.Log, "   c=%d keys=%d: %s\n", pt.Connections, pt.Keys, reason)
			pt.Skipped = reason
			sw.Points = append(sw.Points, pt)
			continue
		}
		for _, s := range systems {
			if s.upstream == nil || warm[s.name] >= pt.Keys {
				continue
			}
			if err := prewarm(ctx, o, s, pt.Keys); err != nil {
				return err
			}
			warm[s.name] = pt.Keys
		}
		if !warmedUp {
			for _, s := range systems {
				if _, err := loadtest.Run(ctx, loadtest.Config{Targets: keyTargets(s.base, pt.Keys), Connections: pt.Connections,
					Duration: min(time.Second, o.SweepDuration)}); err != nil {
					return fmt.Errorf("warming up %s: %w", s.name, err)
				}
			}
			warmedUp = true
		}
		for _, s := range systems {
			if err := ctx.Err(); err != nil {
				return err
			}
			run, err := loadOnce(ctx, o, s, loadSpec{targets: keyTargets(s.base, pt.Keys), connections: pt.Connections, duration: o.SweepDuration}, false)
			if err != nil {
				return fmt.Errorf("%s at c=%d, %d keys: %w", s.name, pt.Connections, pt.Keys, err)
			}
			run.Round = 1
			fmt.Fprintf(o.Log, "   c=%-5d keys=%-6d %-14s %s\n", pt.Connections, pt.Keys, s.name, run.line())
			pt.Runs = append(pt.Runs, *run)
		}
		sw.Points = append(sw.Points, pt)
	}
	return nil
}

// prewarm asks a caching system for keys 1..n once each, so that the
// measured runs are hits.
func prewarm(ctx context.Context, o Options, s *system, n int) error {
	started := time.Now()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Targets:     []loadtest.Target{{URL: s.base + sweepPath + loadtest.PlaceholderSeq, Weight: 1}},
		Connections: min(32, n),
		Duration:    10 * time.Minute, // a bound; MaxRequests ends it
		MaxRequests: int64(n),
		Timeout:     10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("warming %s: %w", s.name, err)
	}
	if rep.Requests != int64(n) || rep.StatusCodes["200"] != int64(n) {
		return fmt.Errorf("warming %s with %d keys: %d requests, answers %v, errors %v", s.name, n, rep.Requests, rep.StatusCodes, rep.ErrorKinds)
	}
	fmt.Fprintf(o.Log, "   %-14s warmed with keys 1..%d in %v\n", s.name, n, time.Since(started).Round(time.Millisecond))
	return nil
}

// rows returns the points of one dimension ("connections" at the base key
// count, or "keys" at the base connection count), in order.
func (sw *SweepResult) rows(dim string) []SweepPoint {
	var out []SweepPoint
	for _, pt := range sw.Points {
		switch {
		case dim == "connections" && pt.Keys == sw.BaseKeys:
			out = append(out, pt)
		case dim == "keys" && pt.Connections == sw.BaseConnections:
			out = append(out, pt)
		}
	}
	return out
}

// value is a point's value along a dimension.
func (pt SweepPoint) value(dim string) int {
	if dim == "keys" {
		return pt.Keys
	}
	return pt.Connections
}

// sweepTable is one dimension of the sweep as table rows, ratios against
// nginx at the same point.
func (sw *SweepResult) table(dim string) (header []string, rows [][]string) {
	header = []string{dim, "system", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "upstream calls", "CPU µs/req",
		"req/s vs nginx", "p99 vs nginx", "CPU/req vs nginx"}
	for _, pt := range sw.rows(dim) {
		v := strconv.Itoa(pt.value(dim))
		if pt.Skipped != "" {
			rows = append(rows, []string{v, "-", pt.Skipped})
			continue
		}
		var ref *LoadRun
		for i := range pt.Runs {
			if pt.Runs[i].System == SystemNginx {
				ref = &pt.Runs[i]
			}
		}
		for _, r := range pt.Runs {
			l := r.Report.Latency
			rr, r99, rcpu := "-", "-", "-"
			if ref != nil {
				rr, r99 = ratio(r.Report.RequestsPerSecond, ref.Report.RequestsPerSecond), ratio(l.P99, ref.Report.Latency.P99)
				rcpu = ratio(r.CPUMicrosPerRequest, ref.CPUMicrosPerRequest)
			}
			rows = append(rows, []string{v, r.System, fmt.Sprintf("%.0f", r.Report.RequestsPerSecond),
				fmt.Sprintf("%.3f", l.P50), fmt.Sprintf("%.3f", l.P99), fmt.Sprintf("%.3f", l.P999),
				strconv.FormatInt(r.Report.Errors(), 10), callsText(r.UpstreamCalls), fmt.Sprintf("%.1f", r.CPUMicrosPerRequest), rr, r99, rcpu})
		}
	}
	return header, rows
}

// dimTitle describes one dimension of the sweep.
func (sw *SweepResult) dimTitle(dim string) string {
	if dim == "keys" {
		return fmt.Sprintf("distinct keys, c=%d, %s, every key cached before the run, %gs per run", sw.BaseConnections, sw.Path, sw.DurationSeconds)
	}
	return fmt.Sprintf("connections, %d keys, %s, every key cached before the run, %gs per run", sw.BaseKeys, sw.Path, sw.DurationSeconds)
}

// writeTables prints both dimensions of the sweep as Markdown tables.
func (sw *SweepResult) writeTables(w io.Writer) {
	var b strings.Builder
	for _, dim := range []string{"connections", "keys"} {
		fmt.Fprintf(&b, "\n### sweep by %s\n\n", sw.dimTitle(dim))
		h, rows := sw.table(dim)
		writeMarkdown(&b, h, rows)
	}
	b.WriteString("\n")
	for _, name := range sortedKeys(sw.RelayFlags) {
		fmt.Fprintf(&b, "- %s flags: %s\n", name, flagsText(sw.RelayFlags[name]))
	}
	_, _ = io.WriteString(w, b.String())
}

// flagsText writes a relay's extra flags, or says there were none.
func flagsText(flags []string) string {
	if len(flags) == 0 {
		return "(none beyond the defaults)"
	}
	return strings.Join(flags, " ")
}
