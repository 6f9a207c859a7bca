package menu

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrNotFound matches (with errors.Is) every *NotFoundError.
var ErrNotFound = errors.New("not found")

// NotFoundError is the API answering 404: the restaurant (or path) does not
// exist.
type NotFoundError struct {
	URL    string // the URL asked for
	Detail string // the API's "detail", if it gave one
}

// Error says which URL was not found, with the API's detail.
func (e *NotFoundError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("GET %s: not found: %s", e.URL, e.Detail)
	}
	return fmt.Sprintf("GET %s: not found", e.URL)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// APIError is the API failing: no answer at all (refused, timed out, reset)
// or an HTTP status other than 200 and 404.
type APIError struct {
	URL        string        // the URL asked for
	StatusCode int           // 0 when no response arrived
	Detail     string        // the API's "detail" or "error", if it gave one
	RetryAfter time.Duration // from a 429's or 503's Retry-After header
	Err        error         // the transport error when StatusCode is 0
}

// Error says which URL failed and how, on one line.
func (e *APIError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("GET %s: %v", e.URL, e.Err)
	}
	msg := fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Unwrap returns the transport error, if any.
func (e *APIError) Unwrap() error { return e.Err }

// Timeout reports whether the request ran out of time.
func (e *APIError) Timeout() bool {
	var t interface{ Timeout() bool }
	return e.Err != nil && errors.As(e.Err, &t) && t.Timeout()
}

// InvalidResponseError is the API answering 200 with a body that is not the
// expected JSON: garbage, truncated, the wrong shape, or too large.
type InvalidResponseError struct {
	URL         string // the URL asked for
	ContentType string // the response's Content-Type
	Reason      string // what is wrong, for people
	Err         error  // the decoding error, if any
}

// Error says which URL answered what kind of invalid body.
func (e *InvalidResponseError) Error() string {
	msg := fmt.Sprintf("GET %s: invalid response: %s", e.URL, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.ContentType != "" && !strings.HasPrefix(e.ContentType, "application/json") {
		msg += fmt.Sprintf(" (Content-Type %q)", e.ContentType)
	}
	return msg
}

// Unwrap returns the decoding error, if any.
func (e *InvalidResponseError) Unwrap() error { return e.Err }
