package relay

import (
	"strconv"
	"strings"
	"time"
)

// headers holds header values prepared once, so that answering a hit
// allocates no header strings for the common values.
type headers struct {
	contentType, hit, miss, stale []string
	ages                          [][]string // ages[n] is {"n"}
	maxAges                       [][]string // maxAges[n] is {"public, max-age=n"}
}

// newHeaders prepares max-age values up to ttl and Age values up to life.
func newHeaders(ttl, life time.Duration) headers {
	h := headers{
		contentType: []string{"application/json"},
		hit:         []string{"HIT"},
		miss:        []string{"MISS"},
		stale:       []string{"STALE"},
		ages:        make([][]string, min(int(life/time.Second)+2, 3600)),
		maxAges:     make([][]string, min(int(ttl/time.Second)+2, 3600)),
	}
	for i := range h.ages {
		h.ages[i] = []string{strconv.Itoa(i)}
	}
	for i := range h.maxAges {
		h.maxAges[i] = []string{"public, max-age=" + strconv.Itoa(i)}
	}
	return h
}

func (h *headers) seconds(n int64) []string {
	if n >= 0 && n < int64(len(h.ages)) {
		return h.ages[n]
	}
	return []string{strconv.FormatInt(max(n, 0), 10)}
}

func (h *headers) maxAge(n int64) []string {
	if n >= 0 && n < int64(len(h.maxAges)) {
		return h.maxAges[n]
	}
	return []string{"public, max-age=" + strconv.FormatInt(max(n, 0), 10)}
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
