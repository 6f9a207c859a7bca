package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/scilifelab/restaurants/internal/upstream"
)

// Entry is one cached answer with its freshness.
type Entry struct {
	// Status is the upstream's status code: 200, or a client error such as 404.
	Status int
	// Body is the answer's body, JSON.
	Body []byte
	// ETag is a strong validator of Body, quoted.
	ETag string
	// Length is len(Body) in decimal, ready for a Content-Length header.
	Length string
	// Stored is when the answer arrived from the upstream.
	Stored time.Time
	// Date is Stored as an HTTP date, for the Date header of the answer.
	Date string
	// MaxAge is how long the answer is fresh from Stored: the TTL of its status.
	MaxAge time.Duration
	// FreshUntil is when the answer stops being fresh.
	FreshUntil time.Time
	// RevalidateUntil is how long the answer may be served stale while one
	// refresh runs in the background.
	RevalidateUntil time.Time
	// ErrorUntil is how long the answer may be served stale when the
	// upstream fails.
	ErrorUntil time.Time

	// flags are what the upstream asked of the answer's reuse.
	flags uint8
	// upstream holds the upstream's cache header fields (encodeHeader).
	upstream string
	// headerValues holds ETag, Length, Date and Cache-Control for the
	// answer's headers, so that answering from the entry makes no header
	// value.
	headerValues [4]string
	// hitValues are the last second's per-second header values of a hit.
	hitValues atomic.Pointer[HitValues]
}

// HitValues are the header values of a hit on an entry that change once a
// second (Age, Cache-Status), made once for that second.
type HitValues struct {
	Second      int64
	Age, Status []string
}

// HitValues returns the values last kept with the entry, or nil; callers
// must not change them.
func (e *Entry) HitValues() *HitValues { return e.hitValues.Load() }

// SetHitValues keeps v with the entry for the hits of v.Second.
func (e *Entry) SetHitValues(v *HitValues) { e.hitValues.Store(v) }

// The flags of an entry.
const (
	// flagNoCache: the upstream said no-cache; revalidate before every use.
	flagNoCache uint8 = 1 << iota
	// flagMustRevalidate: never serve the answer stale.
	flagMustRevalidate
	// flagNoStore: the upstream said no-store or private; the answer goes
	// to the callers who waited for it and is not kept.
	flagNoStore
)

// prepare derives what the stored fields imply: Date, MaxAge and the
// header values.
func (e *Entry) prepare() {
	e.MaxAge = e.FreshUntil.Sub(e.Stored)
	e.Date = e.Stored.UTC().Format(http.TimeFormat)
	cc := "public, max-age=" + strconv.FormatInt(int64(max(0, e.MaxAge)/time.Second), 10)
	switch {
	case e.flags&flagNoCache != 0:
		cc = "no-cache"
	case e.flags&flagMustRevalidate != 0:
		cc += ", must-revalidate"
	}
	e.headerValues = [4]string{e.ETag, e.Length, e.Date, cc}
}

// CacheControlHeader is the Cache-Control towards clients, the answer's
// whole lifetime (with Age, what is left of it) and the upstream's ban on
// stale use, as a header value; callers must not change it.
func (e *Entry) CacheControlHeader() []string { return e.headerValues[3:4:4] }

// NoCache reports whether the answer must be revalidated before every use.
func (e *Entry) NoCache() bool { return e.flags&flagNoCache != 0 }

// Header returns the upstream's cache header fields of the answer: its
// Cache-Control, Expires, Date and validators.
func (e *Entry) Header() http.Header { return upstream.DecodeHeader(e.upstream) }

// Validators returns what the upstream gave to revalidate the answer.
func (e *Entry) Validators() upstream.Validators {
	h := e.Header()
	return upstream.Validators{ETag: h.Get("Etag"), LastModified: h.Get("Last-Modified")}
}

// ETagHeader is the ETag as a header value; callers must not change it.
func (e *Entry) ETagHeader() []string { return e.headerValues[0:1:1] }

// LengthHeader is the Content-Length as a header value; callers must not change it.
func (e *Entry) LengthHeader() []string { return e.headerValues[1:2:2] }

// DateHeader is the Date as a header value; callers must not change it.
func (e *Entry) DateHeader() []string { return e.headerValues[2:3:3] }

// Fresh reports whether e is fresh at now.
func (e *Entry) Fresh(now time.Time) bool { return now.Before(e.FreshUntil) }

// StaleUntil is when the answer stops being usable at all: the end of the
// longer of its stale windows.
func (e *Entry) StaleUntil() time.Time {
	if e.ErrorUntil.After(e.RevalidateUntil) {
		return e.ErrorUntil
	}
	return e.RevalidateUntil
}

// Age is how long ago the answer arrived, in whole seconds, never negative.
func (e *Entry) Age(now time.Time) int64 { return max(0, int64(now.Sub(e.Stored)/time.Second)) }

// ETagOf returns the strong ETag of a body.
func ETagOf(body []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(body)
	var b [18]byte
	b[0] = '"'
	out := strconv.AppendUint(b[:1], h.Sum64(), 36)
	return string(append(out, '"'))
}

// The encoding of an entry in the store: a fixed header, the ETag, the
// length in decimal and the upstream's header fields (read back as one
// string), the body.
//
//	status uint16 | stored, fresh, revalidate, error int64 (unix ns) | flags uint8 | etag len uint8 | length len uint8 | upstream len uint16 | etag | length | upstream | body
const headerSize = 2 + 4*8 + 1 + 1 + 1 + 2

var errCorrupt = errors.New("corrupt cache entry")

func encode(e *Entry) []byte {
	length := strconv.Itoa(len(e.Body))
	up := e.upstream
	if len(up) > 0xffff {
		up = ""
	}
	buf := make([]byte, headerSize+len(e.ETag)+len(length)+len(up)+len(e.Body))
	binary.LittleEndian.PutUint16(buf[0:], uint16(e.Status))
	binary.LittleEndian.PutUint64(buf[2:], uint64(e.Stored.UnixNano()))
	binary.LittleEndian.PutUint64(buf[10:], uint64(e.FreshUntil.UnixNano()))
	binary.LittleEndian.PutUint64(buf[18:], uint64(e.RevalidateUntil.UnixNano()))
	binary.LittleEndian.PutUint64(buf[26:], uint64(e.ErrorUntil.UnixNano()))
	buf[34] = e.flags
	buf[35] = uint8(len(e.ETag))
	buf[36] = uint8(len(length))
	binary.LittleEndian.PutUint16(buf[37:], uint16(len(up)))
	n := copy(buf[headerSize:], e.ETag)
	n += copy(buf[headerSize+n:], length)
	n += copy(buf[headerSize+n:], up)
	copy(buf[headerSize+n:], e.Body)
	return buf
}

// decode reads an entry from buf; the entry's Body aliases buf.
func decode(buf []byte, e *Entry) error {
	if len(buf) < headerSize {
		return fmt.Errorf("%w: %d bytes", errCorrupt, len(buf))
	}
	n, m, u := int(buf[35]), int(buf[36]), int(binary.LittleEndian.Uint16(buf[37:]))
	if len(buf) < headerSize+n+m+u {
		return fmt.Errorf("%w: %d bytes", errCorrupt, len(buf))
	}
	e.Status = int(binary.LittleEndian.Uint16(buf[0:]))
	e.Stored = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[2:])))
	e.FreshUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[10:])))
	e.RevalidateUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[18:])))
	e.ErrorUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[26:])))
	e.flags = buf[34]
	meta := string(buf[headerSize : headerSize+n+m+u])
	e.ETag, e.Length, e.upstream = meta[:n], meta[n:n+m], meta[n+m:]
	e.Body = buf[headerSize+n+m+u:]
	if e.Length != strconv.Itoa(len(e.Body)) {
		return fmt.Errorf("%w: length %q for a body of %d bytes", errCorrupt, e.Length, len(e.Body))
	}
	e.prepare()
	return nil
}
