package relay

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/guard"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// cacheName names the relay in Cache-Status (RFC 9211).
const cacheName = "restaurants"

// headers holds header values prepared once, so that answering a hit
// allocates no header strings for the common values.
type headers struct {
	contentType   []string
	xcacheByState [cache.NumStates][]string
	ages          [][]string // ages[n] is {"n"}
}

// newHeaders prepares the values for a cache of policy p: Age values up to
// the longest an entry is kept (an hour at most).
func newHeaders(p cache.Policy) headers {
	h := headers{
		contentType: []string{"application/json"},
		ages:        make([][]string, min(int(p.Life()/time.Second)+2, 3600)),
	}
	hit, miss, stale := []string{"HIT"}, []string{"MISS"}, []string{"STALE"}
	h.xcacheByState = [cache.NumStates][]string{
		cache.Hit: hit, cache.SharedHit: hit, cache.Miss: miss, cache.Coalesced: miss, cache.Revalidated: miss,
		cache.Revalidating: stale, cache.StaleOnError: stale, cache.None: miss,
	}
	for i := range h.ages {
		h.ages[i] = []string{strconv.Itoa(i)}
	}
	return h
}

// age is the Age header value of n seconds.
func (h *headers) age(n int64) []string {
	if n >= 0 && n < int64(len(h.ages)) {
		return h.ages[n]
	}
	return []string{strconv.FormatInt(max(n, 0), 10)}
}

// hit returns the Age and Cache-Status values of a hit on e at now. They
// change once a second; the entry keeps the last second's, so that the
// hits of a popular key within a second share them and allocate nothing.
func (h *headers) hit(e *cache.Entry, now time.Time) *cache.HitValues {
	sec := now.Unix()
	if v := e.HitValues(); v != nil && v.Second == sec {
		return v
	}
	v := &cache.HitValues{
		Second: sec,
		Age:    h.age(e.Age(now)),
		Status: []string{cacheName + "; hit; ttl=" + strconv.FormatInt(ttl(e, now), 10)},
	}
	e.SetHitValues(v)
	return v
}

// ttl is the freshness left of e at now, in whole seconds, negative once
// it is stale (RFC 9211 section 2.4).
func ttl(e *cache.Entry, now time.Time) int64 {
	d := e.FreshUntil.Sub(now)
	if d < 0 {
		return -int64((-d + time.Second - 1) / time.Second)
	}
	return int64(d / time.Second)
}

// cacheStatus is the Cache-Status value of an answer other than a hit.
func cacheStatus(res cache.Result) string {
	e := res.Entry
	var b strings.Builder
	b.WriteString(cacheName)
	switch res.State {
	case cache.SharedHit:
		b.WriteString("; hit; detail=shared")
	case cache.Miss:
		b.WriteString("; fwd=uri-miss; fwd-status=" + strconv.Itoa(e.Status))
	case cache.Coalesced:
		b.WriteString("; fwd=uri-miss; fwd-status=" + strconv.Itoa(e.Status) + "; collapsed")
	case cache.Revalidated:
		b.WriteString("; fwd=stale; fwd-status=304")
	case cache.Revalidating:
		b.WriteString("; fwd=stale")
	case cache.StaleOnError:
		b.WriteString("; fwd=stale; detail=" + refusalDetail(res.Err))
	}
	if res.Stored {
		b.WriteString("; stored")
	}
	b.WriteString("; ttl=" + strconv.FormatInt(ttl(e, res.At), 10))
	return b.String()
}

// failureStatus is the Cache-Status of an answer the cache could not give:
// a refused call was never forwarded; a failed one was.
func failureStatus(err error) string {
	var ref *guard.Refusal
	if errors.As(err, &ref) {
		return cacheName + "; detail=" + refusalDetail(err)
	}
	return cacheName + "; fwd=uri-miss; detail=" + refusalDetail(err)
}

// refusalDetail names why an answer is stale or missing: the budget, a 429
// pause, a key's back-off, or the upstream's failure class.
func refusalDetail(err error) string {
	var ref *guard.Refusal
	if errors.As(err, &ref) {
		switch ref.Reason {
		case guard.Budget:
			return "budget"
		case guard.RateLimited:
			return "rate-limited"
		default:
			return "backoff"
		}
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return strings.ReplaceAll(string(ue.Outcome), "_", "-")
	}
	return "upstream-error"
}

// xcache is the X-Cache value of a state: HIT, MISS or STALE.
func (h *headers) xcache(s cache.State) []string {
	if s < 0 || s >= cache.NumStates {
		s = cache.None
	}
	return h.xcacheByState[s]
}

// seconds rounds d up to whole seconds, as Retry-After counts.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// etagMatch reports whether an If-None-Match header lists etag, comparing
// weakly as RFC 9110 asks for If-None-Match, or is "*".
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for v != "" {
			var tag string
			tag, v, _ = strings.Cut(v, ",")
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
