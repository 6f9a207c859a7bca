package cache

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Policy says how long answers stay fresh and how long they may be served
// stale.
type Policy struct {
	// TTL is how long a 200 answer stays fresh.
	TTL time.Duration
	// NegativeTTL is how long a client error such as 404 stays fresh; zero
	// keeps such answers out of the cache.
	NegativeTTL time.Duration
	// StaleWhileRevalidate is how long after expiry an answer is served
	// while one refresh runs, the upstream answering as it should.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after expiry an answer stands in for a
	// failing upstream.
	StaleIfError time.Duration
}

func (p Policy) validate() error {
	if p.TTL <= 0 {
		return errors.New("cache: TTL must be positive")
	}
	if p.NegativeTTL < 0 || p.StaleWhileRevalidate < 0 || p.StaleIfError < 0 {
		return errors.New("cache: windows must not be negative")
	}
	return nil
}

// Life is how long after its fetch an answer may still be served: the
// longer of the TTLs and the longer of the stale windows. Nothing is kept
// longer, in process or in a shared tier.
func (p Policy) Life() time.Duration {
	return max(p.TTL, p.NegativeTTL) + max(p.StaleWhileRevalidate, p.StaleIfError)
}

// Entry is the entry of an answer fetched at stored, with its freshness
// under the policy. A 200 is fresh for the TTL and may then stand in within
// the stale windows; a client error is fresh for the negative TTL and never
// served stale.
func (p Policy) Entry(status int, body []byte, stored time.Time) *Entry {
	e := &Entry{Status: status, Body: body, ETag: ETagOf(body), Length: strconv.Itoa(len(body)), Stored: stored}
	p.setFreshness(e)
	return e
}

func (p Policy) setFreshness(e *Entry) {
	defer e.prepare()
	if e.Status == http.StatusOK {
		e.FreshUntil = e.Stored.Add(p.TTL)
		e.RevalidateUntil = e.FreshUntil.Add(p.StaleWhileRevalidate)
		e.ErrorUntil = e.FreshUntil.Add(p.StaleIfError)
		return
	}
	e.FreshUntil = e.Stored.Add(p.NegativeTTL)
	e.RevalidateUntil = e.FreshUntil
	e.ErrorUntil = e.FreshUntil
}
