package harness

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
	RelayFlags      []string    `json:"relay_flags,omitempty"`
	Runs            []MemoryRun `json:"runs"`
}

// MemoryRun is one flood of distinct keys against a relay with a cache bound.
type MemoryRun struct {
	CacheMaxMB   int              `json:"cache_max_mb"`
	RSSIdleBytes int64            `json:"rss_idle_bytes"`
	RSSPeakBytes int64            `json:"rss_peak_bytes"`
	RSSEndBytes  int64            `json:"rss_end_bytes"`
	Report       *loadtest.Report `json:"report"`
	flags        []string
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
		mr.RelayFlags = run.flags
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
	relay, err := e.startRelay(ctx, up, relayArgs{ttl: 10 * time.Minute, negativeTTL: 5 * time.Second, cacheMB: mb, flags: queryKeys()}, e.variant(SystemRelay))
	if err != nil {
		return nil, err
	}
	pid := relay.pid
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
	if err := relay.check(); err != nil {
		return nil, err
	}
	end, err := rssBytes(pid)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return &MemoryRun{CacheMaxMB: mb, RSSIdleBytes: idle, RSSPeakBytes: max(peak, end), RSSEndBytes: end, Report: rep, flags: relay.flags}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// title is the memory scenario's heading.
func (mr *MemoryResult) title() string {
	return fmt.Sprintf("flood of distinct keys (/restaurant?flood=N, each a 200), %gs, c=%d, upstream 0 ms", mr.DurationSeconds, mr.Connections)
}

// table returns the memory floods as table rows.
func (mr *MemoryResult) table() (header []string, rows [][]string) {
	header = []string{"--cache-max-mb", "keys sent", "body MiB offered", "cache MiB (metric)", "entries", "RSS idle MiB", "RSS peak MiB",
		"RSS end MiB", "peak - cap MiB", "req/s", "errors"}
	for _, r := range mr.Runs {
		cache, entries := "-", "-"
		if m := r.Report.Metrics; m != nil && len(m.Warnings) == 0 {
			cache, entries = fmt.Sprintf("%.1f", m.CacheBytes/(1<<20)), fmt.Sprintf("%.0f", m.CacheEntries)
		}
		rows = append(rows, []string{fmt.Sprint(r.CacheMaxMB), fmt.Sprint(r.Report.Requests), fmt.Sprintf("%.1f", mib(r.Report.BodyBytes)), cache, entries,
			fmt.Sprintf("%.1f", mib(r.RSSIdleBytes)), fmt.Sprintf("%.1f", mib(r.RSSPeakBytes)), fmt.Sprintf("%.1f", mib(r.RSSEndBytes)),
			fmt.Sprintf("%.1f", mib(r.RSSPeakBytes)-float64(r.CacheMaxMB)), fmt.Sprintf("%.0f", r.Report.RequestsPerSecond), fmt.Sprint(r.Report.Errors())})
	}
	return header, rows
}

// writeTable prints the memory floods as a Markdown table.
func (mr *MemoryResult) writeTable(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### memory: %s\n\n", mr.title())
	h, rows := mr.table()
	writeMarkdown(&b, h, rows)
	if len(mr.Runs) > 0 {
		fmt.Fprintf(&b, "\n- relay flags: %s\n", flagsText(mr.RelayFlags))
	}
	_, _ = io.WriteString(w, b.String())
}
