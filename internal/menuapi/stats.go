package menuapi

import (
	"strconv"
	"sync/atomic"
)

// statusKeys are the answers counted by /-/stats; "canceled" counts requests
// whose client left (or whose server shut down) while they were delayed.
func statusKeys() []string {
	return []string{"200", "304", "307", "400", "404", "405", "429", "500", "canceled"}
}

// stats counts API requests and their answers.
type stats struct {
	requests atomic.Uint64
	byStatus map[string]*atomic.Uint64 // fixed keys; only the counters change

	computed    atomic.Uint64 // answers computed: not in the own cache, or the request skipped it
	fromCache   atomic.Uint64 // 200s served from the own cache
	notModified atomic.Uint64 // 304s
}

// init makes the counters; it runs once, before any request.
func (s *stats) init() {
	s.byStatus = make(map[string]*atomic.Uint64, len(statusKeys()))
	for _, k := range statusKeys() {
		s.byStatus[k] = new(atomic.Uint64)
	}
}

func (s *stats) count(status int) {
	key := "canceled"
	if status != 0 {
		key = strconv.Itoa(status)
	}
	if c, ok := s.byStatus[key]; ok {
		c.Add(1)
	}
}

// snapshot returns the counters' values.
func (s *stats) snapshot() (uint64, map[string]uint64) {
	m := make(map[string]uint64, len(s.byStatus))
	for k, c := range s.byStatus {
		m[k] = c.Load()
	}
	return s.requests.Load(), m
}

// cacheCounts returns the own cache's counters: computed, from_cache and
// not_modified.
func (s *stats) cacheCounts() (computed, fromCache, notModified uint64) {
	return s.computed.Load(), s.fromCache.Load(), s.notModified.Load()
}

func (s *stats) reset() {
	s.requests.Store(0)
	s.computed.Store(0)
	s.fromCache.Store(0)
	s.notModified.Store(0)
	for _, c := range s.byStatus {
		c.Store(0)
	}
}
