package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// MemoryResult holds the distinct-key floods, one per cache size.
type MemoryResult struct {
	DurationSeconds float64     `json:"duration_seconds"`
	Connections     int         `json:"connections"`
	Runs            []MemoryRun `json:"runs"`
}

// MemoryRun is one flood of distinct keys against a relay with a cache bound.
type MemoryRun struct {
	CacheMaxMB   int              `json:"cache_max_mb"`
	RSSIdleBytes int64            `json:"rss_idle_bytes"`
	RSSPeakBytes int64            `json:"rss_peak_bytes"`
	RSSEndBytes  int64            `json:"rss_end_bytes"`
	Report       *loadtest.Report `json:"report"`
}

// runMemory floods a relay with distinct keys (each a 200 answer) and
// samples its resident memory, once per cache size.
func runMemory(ctx context.Context, o Options) (*MemoryResult, error) {
	mr := &MemoryResult{DurationSeconds: o.MemoryDuration.Seconds(), Connections: o.Connections}
	fmt.Fprintf(o.Log, "== memory: flood of distinct keys for %v, c=%d, cache sizes %v MiB\n", o.MemoryDuration, o.Connections, o.MemoryCacheMB)
	for _, mb := range o.MemoryCacheMB {
		run, err := memoryOnce(ctx, o, mb)
		if err != nil {
			return mr, fmt.Errorf("--cache-max-mb %d: %w", mb, err)
		}
		fmt.Fprintf(o.Log, "   cache %4d MiB: %d keys, RSS idle %.1f peak %.1f end %.1f MiB\n", mb, run.Report.Requests,
			mib(run.RSSIdleBytes), mib(run.RSSPeakBytes), mib(run.RSSEndBytes))
		mr.Runs = append(mr.Runs, *run)
	}
	return mr, nil
}

func memoryOnce(ctx context.Context, o Options, mb int) (*MemoryRun, error) {
	e := &env{opts: o, dir: o.Dir}
	defer e.stopAll()
	up, err := e.startStandIn(ctx, fmt.Sprintf("menu-api-memory-%d", mb), 0)
	if err != nil {
		return nil, err
	}
	relay, err := e.startRelay(ctx, up, relayArgs{ttl: 10 * time.Minute, negativeTTL: 5 * time.Second, cacheMB: mb}, e.variant(SystemRelay))
	if err != nil {
		return nil, err
	}
	pid := relay.proc.pid()
	idle, err := rssBytes(pid)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		peak = idle
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := rssBytes(pid); err == nil {
					mu.Lock()
					peak = max(peak, v)
					mu.Unlock()
				}
			}
		}
	}()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Targets:     []loadtest.Target{{URL: relay.base + "/restaurant?flood={seq}", Weight: 1}},
		Connections: o.Connections,
		Duration:    o.MemoryDuration,
		Timeout:     10 * time.Second,
		MetricsURL:  relay.metricsURL,
	})
	close(stop)
	<-sampled
	if err != nil {
		return nil, err
	}
	if relay.proc.exited() {
		return nil, fmt.Errorf("relay died during the flood: %v\n%s", relay.proc.err, relay.proc.tail(10))
	}
	end, err := rssBytes(pid)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return &MemoryRun{CacheMaxMB: mb, RSSIdleBytes: idle, RSSPeakBytes: max(peak, end), RSSEndBytes: end, Report: rep}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// writeTable prints the memory floods as a Markdown table.
func (mr *MemoryResult) writeTable(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### memory: flood of distinct keys (/restaurant?flood=N, each a 200), %gs, c=%d, upstream 0 ms\n\n", mr.DurationSeconds, mr.Connections)
	b.WriteString("| --cache-max-mb | keys sent | body MiB offered | cache MiB (metric) | entries | RSS idle MiB | RSS peak MiB | RSS end MiB | peak - cap MiB | req/s | errors |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range mr.Runs {
		cache, entries := "-", "-"
		if m := r.Report.Metrics; m != nil && len(m.Warnings) == 0 {
			cache, entries = fmt.Sprintf("%.1f", m.CacheBytes/(1<<20)), fmt.Sprintf("%.0f", m.CacheEntries)
		}
		fmt.Fprintf(&b, "| %d | %d | %.1f | %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %d |\n",
			r.CacheMaxMB, r.Report.Requests, mib(r.Report.BodyBytes), cache, entries,
			mib(r.RSSIdleBytes), mib(r.RSSPeakBytes), mib(r.RSSEndBytes), mib(r.RSSPeakBytes)-float64(r.CacheMaxMB),
			r.Report.RequestsPerSecond, r.Report.Errors())
	}
	_, _ = io.WriteString(w, b.String())
}
