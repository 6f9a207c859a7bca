package harness

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// RSSSample is one reading of a server's resident memory, at Seconds
// from the start of the sampling.
type RSSSample struct {
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
}

// treeRSS is the resident memory of process pid and its children (nginx's
// workers are children of its master).
func treeRSS(pid int) (int64, error) {
	total, err := rssBytes(pid)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil || id == pid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, _, err := cpuOf(string(b)); err != nil || ppid != pid {
			continue
		}
		if n, err := rssBytes(id); err == nil {
			total += n
		}
	}
	return total, nil
}

// rssSampler reads a server's resident memory at a fixed interval until
// it is stopped.
type rssSampler struct {
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []RSSSample
	failed  error
}

// sampleRSS reads read() now and then every interval, on its own goroutine.
func sampleRSS(read func() (int64, error), every time.Duration) *rssSampler {
	s := &rssSampler{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	s.read(read)
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.read(read)
			}
		}
	}()
	return s
}

func (s *rssSampler) read(read func() (int64, error)) {
	n, err := read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed = err
		return
	}
	s.samples = append(s.samples, RSSSample{Seconds: time.Since(s.start).Seconds(), Bytes: n})
}

// at is t as seconds on the sampler's timeline.
func (s *rssSampler) at(t time.Time) float64 { return t.Sub(s.start).Seconds() }

// finish stops the sampling and returns the samples, or the last read's
// failure when there are none.
func (s *rssSampler) finish() ([]RSSSample, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 && s.failed != nil {
		return nil, s.failed
	}
	return s.samples, nil
}

// peakRSS is the largest reading in [from, to) seconds (0 when there is none).
func peakRSS(samples []RSSSample, from, to float64) int64 {
	var peak int64
	for _, s := range samples {
		if s.Seconds >= from && s.Seconds < to {
			peak = max(peak, s.Bytes)
		}
	}
	return peak
}
