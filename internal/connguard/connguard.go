// Package connguard guards an HTTP/1.1 server's client connections against
// clients that stall: it closes a connection whose request header takes too
// long, that waits idle too long for its next request, or whose answer takes
// too long (a client that stops reading). It does with one watchdog per
// listener what http.Server's ReadHeaderTimeout, IdleTimeout and
// WriteTimeout do with socket deadlines, which net/http sets and clears
// several times per request, each a change to the runtime's timers: the
// watchdog reads a coarse clock and costs a request two atomic stores. A
// connection is closed within two ticks (a tick is a tenth of the shortest
// timeout, at most a second) after its time is up, never before.
package connguard

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts bound the phases of a client connection. Zero leaves a phase
// unbounded.
type Timeouts struct {
	// Header bounds reading a request header: from its first byte, or from
	// the accept for a new connection, to its end.
	Header time.Duration
	// Idle bounds a kept-alive connection's wait for its next request.
	Idle time.Duration
	// Answer bounds a request from the end of its header to the end of its
	// answer: the handler's work and the client's reading of the answer.
	Answer time.Duration
}

// Phase is what a connection is doing, for the timeout that applies.
type Phase uint8

// The phases of a connection.
const (
	// Header: a request header is being read.
	Header Phase = iota
	// Idle: waiting for the next request.
	Idle
	// Answer: the request is being answered.
	Answer
	numPhases
)

func (p Phase) String() string {
	switch p {
	case Header:
		return "header"
	case Idle:
		return "idle"
	case Answer:
		return "answer"
	}
	return "unknown"
}

// Watchdog watches the connections of the listeners it wraps. Install its
// ConnState as the http.Server's ConnState, and run Watch while serving.
type Watchdog struct {
	limit   [numPhases]int64 // nanoseconds; 0 = unbounded
	tick    time.Duration
	expired func(Phase)
	now     atomic.Int64 // the coarse clock, unix nanoseconds

	mu    sync.Mutex
	conns map[*conn]struct{}
}

// Config sets up a Watchdog.
type Config struct {
	Timeouts Timeouts
	// Expired, if set, is called for each connection the watchdog closes, with
	// the phase whose time was up.
	Expired func(Phase)
}

// New returns a Watchdog for the timeouts of cfg.
func New(cfg Config) *Watchdog {
	t := cfg.Timeouts
	w := &Watchdog{expired: cfg.Expired, conns: map[*conn]struct{}{}}
	w.limit[Header] = int64(max(t.Header, 0))
	w.limit[Idle] = int64(max(t.Idle, 0))
	w.limit[Answer] = int64(max(t.Answer, 0))
	w.tick = time.Second
	for _, l := range w.limit {
		if l > 0 {
			w.tick = min(w.tick, time.Duration(l)/10)
		}
	}
	w.tick = max(w.tick, 10*time.Millisecond)
	w.now.Store(time.Now().UnixNano() &^ stateBits)
	return w
}

// Listener wraps ln so that the watchdog watches every connection it accepts.
func (w *Watchdog) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, w: w} }

// ConnState follows net/http's view of each connection: a request's header
// read (StateActive) starts its answer, the end of the answer (StateIdle)
// the wait for the next one. Set it as the http.Server's ConnState.
func (w *Watchdog) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive:
		c.enter(Answer)
	case http.StateIdle:
		c.enter(Idle)
	case http.StateHijacked, http.StateClosed:
		w.forget(c)
	}
}

// Watch closes the connections whose time is up, once per tick, until ctx
// ends.
func (w *Watchdog) Watch(ctx context.Context) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The time of the sweep, not of the tick, which may have
			// waited for a busy scheduler.
			w.sweep(time.Now())
		}
	}
}

// Len is the number of connections watched.
func (w *Watchdog) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

// sweep advances the coarse clock to now and closes every connection whose
// phase has lasted longer than its limit.
//
// A phase is stamped with the coarse clock when it begins, so it began at
// that value or later, but before the clock's next value, which may come
// late when the scheduler is busy. So a sweep settles each new stamp to the
// clock value that followed it (prev, or n for a stamp of prev), and counts
// a phase's time from there: never from before the phase began.
func (w *Watchdog) sweep(now time.Time) {
	n := now.UnixNano() &^ stateBits
	prev := w.now.Swap(n)
	var late []*conn
	w.mu.Lock()
	for c := range w.conns {
		s := c.state.Load()
		p, since, settled := unpack(s)
		if !settled {
			switch {
			case since > prev:
				continue // stamped with n: settled by the next sweep
			case since == prev:
				since = n
			default:
				since = prev
			}
			if !c.state.CompareAndSwap(s, pack(p, since)|settledBit) {
				continue // a new phase began meanwhile
			}
		}
		if l := w.limit[p]; l > 0 && n-since > l {
			late = append(late, c)
			delete(w.conns, c)
		}
	}
	w.mu.Unlock()
	for _, c := range late {
		if w.expired != nil {
			p, _, _ := unpack(c.state.Load())
			w.expired(p)
		}
		// Closing the socket ends a blocked read or write with an error,
		// which net/http takes as the client gone.
		_ = c.Conn.Close()
	}
}

func (w *Watchdog) watch(c *conn) {
	w.mu.Lock()
	w.conns[c] = struct{}{}
	w.mu.Unlock()
}

func (w *Watchdog) forget(c *conn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// A conn's state is one word: the time its phase began (unix nanoseconds,
// its low bits cleared), the phase in the two lowest bits, and settledBit
// once a sweep has turned the coarse clock's stamp into a bound it may count
// from.
const (
	phaseBits  = 3
	settledBit = 4
	stateBits  = phaseBits | settledBit
)

// pack puts a phase and the time it began into a conn's state, not settled,
// in one word so that the watchdog never sees one without the other.
func pack(p Phase, since int64) int64 { return since&^stateBits | int64(p) }

// unpack takes a conn's state apart.
func unpack(s int64) (p Phase, since int64, settled bool) {
	return Phase(s & phaseBits), s &^ stateBits, s&settledBit != 0
}

type listener struct {
	net.Listener
	w *Watchdog
}

// Accept returns the next connection, watched from its accept on: its first
// request header must arrive within the header timeout.
func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, w: l.w}
	c.state.Store(pack(Header, time.Now().UnixNano()) | settledBit) // the accept's own time: exact
	l.w.watch(c)
	return c, nil
}

// conn is a watched connection. It also drops the requests to clear a
// deadline that is not set, which net/http makes several times per request.
type conn struct {
	net.Conn
	w     *Watchdog
	state atomic.Int64 // pack(phase, since), settledBit once a sweep settled it

	deadlineMu sync.Mutex
	readDL     atomic.Bool // a read deadline is set
	writeDL    atomic.Bool // a write deadline is set
}

func (c *conn) enter(p Phase) { c.state.Store(pack(p, c.w.now.Load())) }

// Read reads from the connection; the first bytes read while idle begin a
// request header.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if p, _, _ := unpack(c.state.Load()); p == Idle {
			c.enter(Header)
		}
	}
	return n, err
}

// CloseWrite shuts down the writing side, as net/http does before closing
// a connection whose request it did not read to the end.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection and stops watching it.
func (c *conn) Close() error {
	c.w.forget(c)
	return c.Conn.Close()
}

// SetDeadline sets both deadlines.
func (c *conn) SetDeadline(t time.Time) error { return c.setDeadline(t, readDeadline|writeDeadline) }

// SetReadDeadline sets the read deadline.
func (c *conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, readDeadline) }

// SetWriteDeadline sets the write deadline.
func (c *conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, writeDeadline) }

// deadlines says which deadlines a call sets.
type deadlines uint8

const (
	readDeadline deadlines = 1 << iota
	writeDeadline
)

// setDeadline sets the deadlines which to t on the socket; clearing
// deadlines none of which is set costs nothing.
func (c *conn) setDeadline(t time.Time, which deadlines) error {
	reads, writes := which&readDeadline != 0, which&writeDeadline != 0
	if t.IsZero() && !(reads && c.readDL.Load()) && !(writes && c.writeDL.Load()) {
		return nil
	}
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	var err error
	switch {
	case reads && writes:
		err = c.Conn.SetDeadline(t)
	case reads:
		err = c.Conn.SetReadDeadline(t)
	default:
		err = c.Conn.SetWriteDeadline(t)
	}
	if err != nil {
		return err
	}
	if reads {
		c.readDL.Store(!t.IsZero())
	}
	if writes {
		c.writeDL.Store(!t.IsZero())
	}
	return nil
}
