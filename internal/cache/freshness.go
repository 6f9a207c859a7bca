package cache

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scilifelab/restaurants/internal/upstream"
)

// Policy says how long answers stay fresh and how long they may be served
// stale. By default an answer's lifetime is the one the upstream declares,
// computed as a shared cache does (RFC 9111 section 4.2); TTL and
// NegativeTTL are the lifetimes of answers that declare none.
type Policy struct {
	// TTL is how long a 200 answer that declares no lifetime stays fresh;
	// with Fixed, every 200 answer.
	TTL time.Duration
	// MaxTTL caps the lifetime and the stale windows the upstream may ask
	// for; zero leaves them uncapped.
	MaxTTL time.Duration
	// Fixed ignores what the upstream says about caching: every 200 answer
	// is fresh for TTL and every client error for NegativeTTL.
	Fixed bool
	// NegativeTTL is how long a client error such as 404 that declares no
	// lifetime stays fresh; zero keeps such answers out of the cache.
	NegativeTTL time.Duration
	// StaleWhileRevalidate is how long after expiry a 200 answer is served
	// at once while one refresh runs, when the upstream does not say; the
	// window is never shorter than StaleIfError, so that no user waits for
	// the upstream while a copy may serve.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after expiry a 200 answer stands in for a
	// failing upstream, when the upstream does not say.
	StaleIfError time.Duration
}

func (p Policy) validate() error {
	if p.TTL <= 0 {
		return errors.New("cache: TTL must be positive")
	}
	if p.NegativeTTL < 0 || p.StaleWhileRevalidate < 0 || p.StaleIfError < 0 || p.MaxTTL < 0 {
		return errors.New("cache: lifetimes and windows must not be negative")
	}
	if p.MaxTTL > 0 && p.MaxTTL < max(p.TTL, p.NegativeTTL) {
		return errors.New("cache: the longest lifetime must not be shorter than the TTLs")
	}
	return nil
}

// longest is the longest lifetime or stale window an answer may have.
func (p Policy) longest() time.Duration {
	if p.MaxTTL > 0 && !p.Fixed {
		return max(p.MaxTTL, p.StaleWhileRevalidate, p.StaleIfError)
	}
	return max(p.TTL, p.NegativeTTL, p.StaleWhileRevalidate, p.StaleIfError)
}

// Life is how long after its fetch an answer may still be served: the
// longest lifetime and the longest stale window. Nothing is kept longer, in
// process or in a shared tier. Without a MaxTTL an upstream may ask for
// more; such an answer is kept as long as the store keeps it.
func (p Policy) Life() time.Duration {
	if p.MaxTTL > 0 && !p.Fixed {
		return 2 * p.longest()
	}
	return max(p.TTL, p.NegativeTTL) + max(p.StaleWhileRevalidate, p.StaleIfError)
}

// directives are the Cache-Control directives of an answer that a shared
// cache acts on (RFC 9111 section 5.2.2, RFC 5861).
type directives struct {
	noStore, private, noCache, mustRevalidate bool
	// sMaxAge, maxAge, swr, sie are -1 when absent.
	sMaxAge, maxAge, swr, sie time.Duration
}

// parseCacheControl reads the directives of Cache-Control field values.
// Unknown directives are ignored; a delta-seconds that cannot be read
// makes the answer stale at once (RFC 9111 section 1.2.2), as does a
// negative one.
func parseCacheControl(values []string) directives {
	d := directives{sMaxAge: -1, maxAge: -1, swr: -1, sie: -1}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				d.noStore = true
			case "private":
				d.private = true
			case "no-cache":
				d.noCache = true
			case "must-revalidate", "proxy-revalidate":
				d.mustRevalidate = true
			case "s-maxage":
				d.sMaxAge = deltaSeconds(arg)
			case "max-age":
				d.maxAge = deltaSeconds(arg)
			case "stale-while-revalidate":
				d.swr = deltaSeconds(arg)
			case "stale-if-error":
				d.sie = deltaSeconds(arg)
			}
		}
	}
	return d
}

// deltaSeconds reads a delta-seconds value; a value too large for a
// duration is the largest one, an unreadable or negative one zero.
func deltaSeconds(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
		return time.Duration(1<<63 - 1)
	case err != nil || n < 0:
		return 0
	case n > int64((1<<63-1)/time.Second):
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(n) * time.Second
}

// Storable reports whether a shared cache may store an answer with this
// header at all (RFC 9111 section 3): not when it says no-store or private.
func (p Policy) Storable(h http.Header) bool {
	if p.Fixed {
		return true
	}
	d := parseCacheControl(h["Cache-Control"])
	return !d.noStore && !d.private
}

// initialAge is the age of an answer when it arrived (RFC 9111 section
// 4.2.3): the larger of what its Date says and its Age plus the time the
// call took. Date counts whole seconds, so an answer made a moment before
// a second ends looks up to a second old on arrival; that second is not
// counted, or every copy would expire up to a second before the
// upstream's own and its refresh find the upstream's copy still there.
func initialAge(h http.Header, sent, received time.Time) time.Duration {
	var apparent time.Duration
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		apparent = max(0, received.Sub(date.Add(time.Second)))
	}
	var corrected time.Duration
	if age := h.Get("Age"); age != "" {
		corrected = deltaSeconds(age) + max(0, received.Sub(sent))
	}
	return max(apparent, corrected)
}

// Entry is the entry of an answer with status, body and the upstream's
// header fields, whose age was zero at stored, with its freshness under the
// policy.
func (p Policy) Entry(status int, body []byte, header http.Header, stored time.Time) *Entry {
	e := &Entry{Status: status, Body: body, ETag: ETagOf(body), Length: strconv.Itoa(len(body)), Stored: stored}
	e.upstream = encodeHeader(header)
	p.setFreshness(e, header)
	return e
}

// setFreshness sets e's lifetime and stale windows from the upstream's
// header fields: s-maxage, else max-age, else Expires minus Date, else the
// policy's TTL of its status, capped at MaxTTL. A 200 may then be served
// stale while one refresh runs and when the upstream fails, for as long as
// the upstream's stale-while-revalidate and stale-if-error allow, or the
// policy when it sends neither; must-revalidate, proxy-revalidate,
// s-maxage and no-cache forbid it. A client error is never served stale.
func (p Policy) setFreshness(e *Entry, h http.Header) {
	defer e.prepare()
	e.flags = 0
	if p.Fixed {
		if e.Status == http.StatusOK {
			e.FreshUntil = e.Stored.Add(p.TTL)
			e.RevalidateUntil = e.FreshUntil.Add(max(p.StaleWhileRevalidate, p.StaleIfError))
			e.ErrorUntil = e.FreshUntil.Add(p.StaleIfError)
			return
		}
		e.FreshUntil = e.Stored.Add(p.NegativeTTL)
		e.RevalidateUntil, e.ErrorUntil = e.FreshUntil, e.FreshUntil
		return
	}
	d := parseCacheControl(h["Cache-Control"])
	lifetime := p.NegativeTTL
	if e.Status == http.StatusOK {
		lifetime = p.TTL
	}
	switch {
	case d.sMaxAge >= 0:
		lifetime = d.sMaxAge
		d.mustRevalidate = true // s-maxage carries proxy-revalidate (RFC 9111 section 5.2.2.10)
	case d.maxAge >= 0:
		lifetime = d.maxAge
	case h.Get("Expires") != "":
		expires, err := http.ParseTime(h.Get("Expires"))
		date, derr := http.ParseTime(h.Get("Date"))
		switch {
		case err != nil:
			lifetime = 0 // an invalid Expires is in the past (RFC 9111 section 5.3)
		case derr == nil:
			lifetime = max(0, expires.Sub(date))
		default:
			lifetime = max(0, expires.Sub(e.Stored))
		}
	}
	if d.noCache {
		lifetime = 0
		e.flags |= flagNoCache
	}
	if d.mustRevalidate {
		e.flags |= flagMustRevalidate
	}
	lifetime = p.capped(lifetime)
	e.FreshUntil = e.Stored.Add(lifetime)
	e.RevalidateUntil, e.ErrorUntil = e.FreshUntil, e.FreshUntil
	if e.Status != http.StatusOK || d.noCache || d.mustRevalidate {
		return
	}
	swr, sie := max(p.StaleWhileRevalidate, p.StaleIfError), p.StaleIfError
	if d.swr >= 0 {
		swr = d.swr
	}
	if d.sie >= 0 {
		sie = d.sie
	}
	e.RevalidateUntil = e.FreshUntil.Add(p.capped(swr))
	e.ErrorUntil = e.FreshUntil.Add(p.capped(sie))
}

// capped bounds what the upstream asks for by MaxTTL.
func (p Policy) capped(d time.Duration) time.Duration {
	if p.MaxTTL > 0 {
		return min(d, p.MaxTTL)
	}
	return d
}

// encodeHeader keeps the upstream's cache header fields of h (CacheHeaders)
// in upstream.EncodeHeader's form, without Age: an entry's age is in its
// Stored time.
func encodeHeader(h http.Header) string {
	kept := make(http.Header, 4)
	for _, name := range upstream.CacheHeaders() {
		if vs := h[name]; len(vs) > 0 && name != "Age" {
			kept[name] = vs
		}
	}
	return upstream.EncodeHeader(kept)
}
