package loadtest

import (
	"math"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Timeline is a run interval by interval (one second unless the run is
// long): what finished in each, so that a stall, an error burst or a
// latency spike shows where it happened.
type Timeline struct {
	// IntervalSeconds is the width of a bucket.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Buckets cover the run from its start, without gaps: an interval in
	// which nothing finished is a bucket with zero requests.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is what finished during one interval of a run.
type Bucket struct {
	// StartSeconds is the bucket's start, from the run's start.
	StartSeconds float64 `json:"start_seconds"`
	// Seconds is the bucket's width (the last one may be shorter).
	Seconds float64 `json:"seconds"`
	// Requests are the requests that finished in the bucket (answers and transport errors).
	Requests int64 `json:"requests"`
	// TransportErrors are those that got no complete answer.
	TransportErrors int64 `json:"transport_errors"`
	// ServerErrors are the answers with a 5xx status.
	ServerErrors int64 `json:"server_errors"`
	// P50, P99 and Max are the latencies (ms) of the bucket's requests, at
	// 1 % resolution; 0 when none finished.
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// RequestsPerSecond is the bucket's throughput.
func (b Bucket) RequestsPerSecond() float64 {
	if b.Seconds <= 0 {
		return 0
	}
	return float64(b.Requests) / b.Seconds
}

// Errors are the bucket's transport errors and 5xx answers.
func (b Bucket) Errors() int64 { return b.TransportErrors + b.ServerErrors }

// maxBuckets bounds a timeline's length: a run longer than maxBuckets
// seconds gets wider buckets.
const maxBuckets = 600

// interval returns the bucket width of a run of duration d: one second,
// or wider so that the run has at most maxBuckets buckets.
func interval(d time.Duration) time.Duration {
	w := time.Second
	if n := (d + maxBuckets*time.Second - 1) / (maxBuckets * time.Second); n > 1 {
		w = n * time.Second
	}
	return w
}

// Per-bucket histograms: the same range as the run's, two significant
// digits (1 %), which keeps one bucket's histogram small.
const bucketSigFigs = 2

// bucketRec accumulates one interval.
type bucketRec struct {
	hist        *hdrhistogram.Histogram
	count, errs int64
	server      int64
}

func newBucketRec() *bucketRec {
	return &bucketRec{hist: hdrhistogram.New(histMinMicros, histMaxMicros, bucketSigFigs)}
}

func (b *bucketRec) reset() {
	b.hist.Reset()
	b.count, b.errs, b.server = 0, 0, 0
}

// timelineRec is the run's timeline being recorded. Shards record into a
// bucket of their own and merge it here when their requests move to the
// next interval, so the shared lock is taken about once a second per shard.
type timelineRec struct {
	width   time.Duration
	mu      sync.Mutex
	buckets []*bucketRec
}

// merge adds a shard's bucket into bucket i.
func (t *timelineRec) merge(i int, b *bucketRec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.buckets) <= i {
		t.buckets = append(t.buckets, nil)
	}
	if t.buckets[i] == nil {
		t.buckets[i] = newBucketRec()
	}
	dst := t.buckets[i]
	dst.hist.Merge(b.hist)
	dst.count += b.count
	dst.errs += b.errs
	dst.server += b.server
}

// timeline returns the buckets from the start to elapsed.
func (t *timelineRec) timeline(elapsed time.Duration) *Timeline {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := max(len(t.buckets), int(math.Ceil(elapsed.Seconds()/t.width.Seconds())))
	tl := &Timeline{IntervalSeconds: t.width.Seconds(), Buckets: make([]Bucket, 0, n)}
	for i := range n {
		start := time.Duration(i) * t.width
		b := Bucket{StartSeconds: start.Seconds(), Seconds: t.width.Seconds()}
		if end := start + t.width; end > elapsed && elapsed > start {
			b.Seconds = (elapsed - start).Seconds()
		}
		if i < len(t.buckets) && t.buckets[i] != nil {
			r := t.buckets[i]
			b.Requests, b.TransportErrors, b.ServerErrors = r.count, r.errs, r.server
			if r.hist.TotalCount() > 0 {
				b.P50 = float64(r.hist.ValueAtQuantile(50)) / 1000
				b.P99 = float64(r.hist.ValueAtQuantile(99)) / 1000
				b.Max = float64(r.hist.Max()) / 1000
			}
		}
		tl.Buckets = append(tl.Buckets, b)
	}
	return tl
}
