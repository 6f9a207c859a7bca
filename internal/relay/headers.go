package relay

import (
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/cache"
)

// headers holds header values prepared once, so that answering a hit
// allocates no header strings for the common values.
type headers struct {
	contentType      []string
	xcacheByState    [cache.NumStates][]string
	ccOK, ccNegative []string
	ages             [][]string // ages[n] is {"n"}
}

// newHeaders prepares the values for a cache of policy p: Age values up to
// the longest an entry is kept, and the Cache-Control of each TTL.
func newHeaders(p cache.Policy) headers {
	h := headers{
		contentType: []string{"application/json"},
		ccOK:        []string{cacheControl(p.TTL)},
		ccNegative:  []string{cacheControl(p.NegativeTTL)},
		ages:        make([][]string, min(int(p.Life()/time.Second)+2, 3600)),
	}
	hit, miss, stale := []string{"HIT"}, []string{"MISS"}, []string{"STALE"}
	h.xcacheByState = [cache.NumStates][]string{
		cache.Hit: hit, cache.SharedHit: hit, cache.Miss: miss, cache.Coalesced: miss,
		cache.Revalidating: stale, cache.StaleOnError: stale, cache.None: miss,
	}
	for i := range h.ages {
		h.ages[i] = []string{strconv.Itoa(i)}
	}
	return h
}

func cacheControl(ttl time.Duration) string {
	return "public, max-age=" + strconv.FormatInt(int64(ttl/time.Second), 10)
}

// age is the Age header value of n seconds.
func (h *headers) age(n int64) []string {
	if n >= 0 && n < int64(len(h.ages)) {
		return h.ages[n]
	}
	return []string{strconv.FormatInt(max(n, 0), 10)}
}

// cacheControl is the Cache-Control of an entry: the full max-age of its
// status under the policy, which with the Age header tells what is left.
func (h *headers) cacheControl(e *cache.Entry) []string {
	if e.Status == 200 {
		return h.ccOK
	}
	return h.ccNegative
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
