package loadtest

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in microseconds, from 1 µs to 1 hour,
// with three significant digits (0.1% resolution).
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Hour / time.Microsecond)
	histSigFigs   = 3
)

// maxErrorKinds bounds how many distinct transport error kinds a run keeps,
// and maxHeaderValues the distinct values of the counted header.
const (
	maxErrorKinds   = 32
	maxHeaderValues = 32
)

// Keys of Report.HeaderValues that are not a header's value.
const (
	// HeaderAbsent counts answers without the header.
	HeaderAbsent = "(absent)"
	// HeaderOther counts values beyond the first maxHeaderValues distinct ones.
	HeaderOther = "(other)"
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// shard accumulates the results of some of a run's workers. Workers record into
// the shard their index maps to, so that lock contention and memory stay small
// at any number of connections.
type shard struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	status   map[int]int64
	errKinds map[string]int64
	hvals    map[string]int64 // values of the counted header
	count    int64            // responses + transport errors
	errs     int64            // transport errors
	bytes    int64
	// The timeline: this shard's requests of interval cur, merged into tl
	// when a request of another interval finishes.
	tl  *timelineRec
	cur int
	now *bucketRec
	_   [64]byte // keep shards on separate cache lines
}

func newShard(tl *timelineRec) *shard {
	return &shard{hist: newHistogram(), status: make(map[int]int64), errKinds: make(map[string]int64),
		hvals: make(map[string]int64), tl: tl, now: newBucketRec()}
}

// countHeader counts one answer's value of the counted header.
func (s *shard) countHeader(v string) {
	if v == "" {
		v = HeaderAbsent
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hvals[v]; !ok && len(s.hvals) >= maxHeaderValues {
		v = HeaderOther
	}
	s.hvals[v]++
}

// record adds one finished request, which finished at offset at from the
// run's start. A nil err means a response with status code.
func (s *shard) record(latency, at time.Duration, code int, n int64, err error) {
	us := latency.Microseconds()
	if us < histMinMicros {
		us = histMinMicros
	}
	if us > histMaxMicros {
		us = histMaxMicros
	}
	bucket := max(0, int(at/s.tl.width))
	s.mu.Lock()
	defer s.mu.Unlock()
	if bucket != s.cur {
		s.flushLocked()
		s.cur = bucket
	}
	_ = s.hist.RecordValue(us) // in range by construction
	_ = s.now.hist.RecordValue(us)
	s.count++
	s.now.count++
	s.bytes += n
	if err != nil {
		s.errs++
		s.now.errs++
		k := errorKind(err)
		if _, ok := s.errKinds[k]; !ok && len(s.errKinds) >= maxErrorKinds {
			k = "other"
		}
		s.errKinds[k]++
		return
	}
	s.status[code]++
	if code >= 500 {
		s.now.server++
	}
}

// flushLocked merges the shard's current interval into the run's timeline.
func (s *shard) flushLocked() {
	if s.now.count == 0 {
		return
	}
	s.tl.merge(s.cur, s.now)
	s.now.reset()
}

// totals returns the shard's request and error counts so far.
func (s *shard) totals() (count, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.errs
}

// errorKind names a transport error by its class, so that errors carrying
// per-request details (URLs, ports) fold into a few kinds.
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "dns: " + dnsErr.Err
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
