// Package clocktest is a clock for tests: it stands still until told to
// move, so that code taking a func() time.Time can be tested across TTLs and
// windows without sleeping.
package clocktest

import (
	"sync/atomic"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// New returns a clock standing at t.
func New(t time.Time) *Clock {
	c := new(Clock)
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
