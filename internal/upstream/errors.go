package upstream

import (
	"fmt"
	"time"
)

// Outcome classifies one upstream call, for metrics and for the relay's
// choice of status code.
type Outcome string

// The outcomes of an upstream call.
const (
	OK          Outcome = "ok"           // 200 with a body within limits
	NotFound    Outcome = "not_found"    // 404: the upstream has no such path or restaurant
	ClientError Outcome = "client_error" // another client error (4xx but 404 and 429) the upstream decided
	HTTPError   Outcome = "http_error"   // 5xx, or a status the relay does not pass on
	Timeout     Outcome = "timeout"      // no complete answer within the upstream timeout
	Refused     Outcome = "refused"      // the connection failed
	RateLimited Outcome = "rate_limited" // 429, or the relay is backing off after one
	Invalid     Outcome = "invalid"      // the body failed processing, e.g. not JSON
	TooLarge    Outcome = "too_large"    // the body exceeds the size limit
	Canceled    Outcome = "canceled"     // the relay gave up the call
	Busy        Outcome = "busy"         // no call made: the concurrency limit stayed full
	NotModified Outcome = "not_modified" // 304 to a conditional call: the cached copy is still the answer
	Crashed     Outcome = "panic"        // the call or the processing of its answer panicked
)

// Error is a failed upstream call: its outcome, the upstream status when one
// arrived, and how long to wait before retrying when the upstream said so.
type Error struct {
	Outcome    Outcome
	Status     int
	RetryAfter time.Duration
	Err        error
}

// Error describes the failure in one line.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("upstream %s (status %d): %v", e.Outcome, e.Status, e.Err)
	}
	return fmt.Sprintf("upstream %s: %v", e.Outcome, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
