package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scilifelab/restaurants/internal/cache"
)

// numCommonCodes is how many status codes commonCodes lists.
const numCommonCodes = 8

// commonCodes are the status codes whose counters are kept ready; others
// are counted under a lock.
func commonCodes() [numCommonCodes]int {
	return [numCommonCodes]int{200, 304, 400, 404, 405, 502, 503, 504}
}

// codeIndex is the index of code in commonCodes, or -1.
func codeIndex(code int) int {
	for i, c := range commonCodes() {
		if c == code {
			return i
		}
	}
	return -1
}

// numStripes is how many cache lines one request counter is spread over:
// more than the cores of any pod the relay runs in.
const numStripes = 16

// stripe is one part of a counter, alone on its cache line.
type stripe struct {
	n atomic.Uint64
	_ [56]byte
}

// striped is a counter spread over cache lines, summed when read.
type striped [numStripes]stripe

func (s *striped) load() uint64 {
	var n uint64
	for i := range s {
		n += s[i].n.Load()
	}
	return n
}

// stripes hands each core a stripe index of its own, most of the time: a
// sync.Pool keeps what a core put back for that core, so that cores
// counting at once write lines of their own instead of taking turns at one
// shared line on every request. Whatever index a core gets, every count
// lands in some stripe and the sum is exact; an index the collector drops
// from the pool is handed out again, so there are never more than
// numStripes.
type stripes struct {
	pool sync.Pool // of *int
	next atomic.Uint32
}

func newStripes() *stripes {
	s := &stripes{}
	s.pool.New = func() any {
		i := int(s.next.Add(1) % numStripes)
		return &i
	}
	return s
}

// requestCounts is restaurants_requests_total: requests by status code and
// cache result. A pair appears once it has been counted.
type requestCounts struct {
	desc *prometheus.Desc
	// States that share a label (the two stale ones) share counters:
	// slot[s] indexes labels and common.
	slot   [cache.NumStates]int
	labels []string
	common [cache.NumStates][numCommonCodes]striped
	cores  *stripes

	mu   sync.Mutex
	rare map[rareKey]uint64 // codes other than the common ones
}

type rareKey struct{ code, slot int }

func newRequestCounts() *requestCounts {
	r := &requestCounts{
		desc: prometheus.NewDesc("restaurants_requests_total",
			"Requests answered, by status code and cache result (hit, miss, coalesced, stale, none).",
			[]string{"code", "cache"}, nil),
		rare:  map[rareKey]uint64{},
		cores: newStripes(),
	}
	slotOf := map[string]int{}
	for s := range cache.NumStates {
		label := s.String()
		i, seen := slotOf[label]
		if !seen {
			i = len(r.labels)
			slotOf[label] = i
			r.labels = append(r.labels, label)
		}
		r.slot[s] = i
	}
	return r
}

// add counts one request; s is a valid state.
func (r *requestCounts) add(code int, s cache.State) {
	if i := codeIndex(code); i >= 0 {
		k := r.cores.pool.Get().(*int)
		r.common[r.slot[s]][i][*k].n.Add(1)
		r.cores.pool.Put(k)
		return
	}
	r.mu.Lock()
	r.rare[rareKey{code, r.slot[s]}]++
	r.mu.Unlock()
}

// count is the number of requests counted for code and s.
func (r *requestCounts) count(code int, s cache.State) uint64 {
	if i := codeIndex(code); i >= 0 {
		return r.common[r.slot[s]][i].load()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rare[rareKey{code, r.slot[s]}]
}

// Describe sends the metric's one descriptor.
func (r *requestCounts) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

// Collect sends every pair counted so far.
func (r *requestCounts) Collect(ch chan<- prometheus.Metric) {
	codes := commonCodes()
	for slot, label := range r.labels {
		for i := range r.common[slot] {
			if n := r.common[slot][i].load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(n), strconv.Itoa(codes[i]), label)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.rare {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(n), strconv.Itoa(k.code), r.labels[k.slot])
	}
}
