package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"
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

	// headerValues holds ETag, Length and Date for the answer's headers, so
	// that answering from the entry makes no header value.
	headerValues [3]string
}

// prepare derives what the stored fields imply: Date, MaxAge and the
// header values.
func (e *Entry) prepare() {
	e.MaxAge = e.FreshUntil.Sub(e.Stored)
	e.Date = e.Stored.UTC().Format(http.TimeFormat)
	e.headerValues = [3]string{e.ETag, e.Length, e.Date}
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

// The encoding of an entry in the store: a fixed header, the ETag and the
// length in decimal (read back as one string), the body.
//
//	status uint16 | stored, fresh, revalidate, error int64 (unix ns) | etag len uint8 | length len uint8 | etag | length | body
const headerSize = 2 + 4*8 + 2

var errCorrupt = errors.New("corrupt cache entry")

func encode(e *Entry) []byte {
	length := strconv.Itoa(len(e.Body))
	buf := make([]byte, headerSize+len(e.ETag)+len(length)+len(e.Body))
	binary.LittleEndian.PutUint16(buf[0:], uint16(e.Status))
	binary.LittleEndian.PutUint64(buf[2:], uint64(e.Stored.UnixNano()))
	binary.LittleEndian.PutUint64(buf[10:], uint64(e.FreshUntil.UnixNano()))
	binary.LittleEndian.PutUint64(buf[18:], uint64(e.RevalidateUntil.UnixNano()))
	binary.LittleEndian.PutUint64(buf[26:], uint64(e.ErrorUntil.UnixNano()))
	buf[34] = uint8(len(e.ETag))
	buf[35] = uint8(len(length))
	n := copy(buf[headerSize:], e.ETag)
	n += copy(buf[headerSize+n:], length)
	copy(buf[headerSize+n:], e.Body)
	return buf
}

// decode reads an entry from buf; the entry's Body aliases buf.
func decode(buf []byte, e *Entry) error {
	if len(buf) < headerSize || len(buf) < headerSize+int(buf[34])+int(buf[35]) {
		return fmt.Errorf("%w: %d bytes", errCorrupt, len(buf))
	}
	n, m := int(buf[34]), int(buf[35])
	e.Status = int(binary.LittleEndian.Uint16(buf[0:]))
	e.Stored = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[2:])))
	e.FreshUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[10:])))
	e.RevalidateUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[18:])))
	e.ErrorUntil = time.Unix(0, int64(binary.LittleEndian.Uint64(buf[26:])))
	meta := string(buf[headerSize : headerSize+n+m])
	e.ETag, e.Length = meta[:n], meta[n:]
	e.Body = buf[headerSize+n+m:]
	if e.Length != strconv.Itoa(len(e.Body)) {
		return fmt.Errorf("%w: length %q for a body of %d bytes", errCorrupt, e.Length, len(e.Body))
	}
	e.prepare()
	return nil
}
