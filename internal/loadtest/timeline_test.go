package loadtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestInterval(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		time.Second: time.Second, 10 * time.Minute: time.Second, 10*time.Minute + time.Second: 2 * time.Second, time.Hour: 6 * time.Second,
	} {
		if got := interval(d); got != want {
			t.Errorf("interval(%v) = %v, want %v", d, got, want)
		}
	}
}

// A run records what finished in each second, and its probes read a
// counter at the start, every second and at the end.
func TestTimelineAndProbes(t *testing.T) {
	t.Parallel()
	var (
		once    sync.Once
		first   time.Time
		served  atomic.Int64
		errFrom = 1200 * time.Millisecond
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { first = time.Now() })
		served.Add(1)
		if time.Since(first) >= errFrom {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	probe := Probe{Name: "served", Counter: true, Read: func(context.Context) (float64, error) { return float64(served.Load()), nil }}
	rep := mustRun(t, Config{Targets: []Target{{URL: srv.URL, Weight: 1}}, Connections: 2, Duration: 2500 * time.Millisecond, Probes: []Probe{probe}})

	tl := rep.Timeline
	if tl == nil || tl.IntervalSeconds != 1 || len(tl.Buckets) < 3 {
		t.Fatalf("timeline %+v, want buckets of 1 s covering 2.5 s", tl)
	}
	var requests, server int64
	for i, b := range tl.Buckets {
		if b.StartSeconds != float64(i) || b.Seconds <= 0 || b.Seconds > 1 {
			t.Errorf("bucket %d: start %v width %v", i, b.StartSeconds, b.Seconds)
		}
		if b.Requests > 0 && (b.P50 <= 0 || b.P99 < b.P50 || b.Max < b.P99) {
			t.Errorf("bucket %d latencies p50 %v p99 %v max %v", i, b.P50, b.P99, b.Max)
		}
		requests += b.Requests
		server += b.ServerErrors
	}
	if requests != rep.Requests || server != rep.ServerErrors || rep.ServerErrors == 0 {
		t.Errorf("buckets hold %d requests and %d 5xx, the run %d and %d (want some 5xx)", requests, server, rep.Requests, rep.ServerErrors)
	}
	if tl.Buckets[0].ServerErrors != 0 || tl.Buckets[0].Requests == 0 {
		t.Errorf("first second %+v: answers, and no 503 (the server fails from 1.2 s)", tl.Buckets[0])
	}

	ps, ok := rep.Probe("served")
	if !ok || !ps.Counter || len(ps.Samples) < 3 || ps.Failures != 0 {
		t.Fatalf("probe %+v, want a counter read at the start, each second and at the end", ps)
	}
	if ps.Samples[0].Seconds != 0 || ps.Samples[0].Value != 0 {
		t.Errorf("first sample %+v, want 0 at 0 s (before the first request)", ps.Samples[0])
	}
	for i := 1; i < len(ps.Samples); i++ {
		if ps.Samples[i].Seconds < ps.Samples[i-1].Seconds || ps.Samples[i].Value < ps.Samples[i-1].Value {
			t.Errorf("samples go back: %+v", ps.Samples)
		}
	}
	if got := ps.Total(); got != float64(served.Load()) || got != float64(rep.Requests) {
		t.Errorf("probe total %v, server saw %d, run sent %d", got, served.Load(), rep.Requests)
	}
	if inc := ps.Increases(); len(inc) != len(ps.Samples)-1 || inc[0].Value <= 0 {
		t.Errorf("increases %+v", inc)
	}
}

func TestSpectrum(t *testing.T) {
	h := newHistogram()
	for i := int64(1); i <= 20000; i++ {
		_ = h.RecordValue(i) // 1 µs .. 20 ms, evenly
	}
	sp := SpectrumOf(h)
	if len(sp) < 50 || sp[0].Percentile != 50 || sp[len(sp)-1].Percentile < 99.989 || sp[len(sp)-1].Percentile > 99.99+1e-9 {
		t.Fatalf("spectrum from %v to %v in %d points, want 50 to 99.99", sp[0], sp[len(sp)-1], len(sp))
	}
	for i := 1; i < len(sp); i++ {
		if sp[i].Percentile <= sp[i-1].Percentile || sp[i].Millis < sp[i-1].Millis {
			t.Fatalf("spectrum not increasing at %d: %v %v", i, sp[i-1], sp[i])
		}
	}
	if sp[0].Millis < 9.9 || sp[0].Millis > 10.1 {
		t.Errorf("p50 %v ms, want 10", sp[0].Millis)
	}
	small := newHistogram()
	for i := int64(1); i <= 100; i++ {
		_ = small.RecordValue(i)
	}
	if sp := SpectrumOf(small); sp[len(sp)-1].Percentile > 99+1e-9 {
		t.Errorf("100 values resolve up to 99 %%, spectrum goes to %v", sp[len(sp)-1].Percentile)
	}
	if SpectrumOf(newHistogram()) != nil {
		t.Error("spectrum of nothing")
	}
}

func TestProbeValidation(t *testing.T) {
	read := func(context.Context) (float64, error) { return 1, nil }
	for _, ps := range [][]Probe{{{Name: "", Read: read}}, {{Name: "x"}}, {{Name: "x", Read: read}, {Name: "x", Read: read}}} {
		if _, err := Run(context.Background(), Config{Targets: []Target{{URL: "http://127.0.0.1:1", Weight: 1}}, Duration: time.Second, Probes: ps}); err == nil {
			t.Errorf("probes %+v accepted", ps)
		}
	}
}

// A probe that cannot be read does not stop the run; its failures are counted.
func TestProbeFailures(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(time.Millisecond) }))
	defer srv.Close()
	broken := Probe{Name: "broken", Read: func(context.Context) (float64, error) { return 0, errors.New("no such counter") }}
	rep := mustRun(t, Config{Targets: []Target{{URL: srv.URL, Weight: 1}}, Duration: 1500 * time.Millisecond, Probes: []Probe{broken}})
	ps, ok := rep.Probe("broken")
	if !ok || len(ps.Samples) != 0 || ps.Failures < 2 || ps.LastError != "no such counter" {
		t.Errorf("probe %+v, want failures counted with the reason", ps)
	}
	if rep.Requests == 0 {
		t.Error("the run sent nothing")
	}
}
