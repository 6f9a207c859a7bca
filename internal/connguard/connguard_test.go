package connguard

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve runs handler on a loopback listener watched by a watchdog of to, and
// returns its address and what the watchdog closed.
func serve(tb testing.TB, to Timeouts, handler http.Handler) (string, *Watchdog, *closedLog) {
	tb.Helper()
	closed := &closedLog{}
	wd := New(Config{Timeouts: to, Expired: closed.add})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ConnState: wd.ConnState}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); wd.Watch(ctx) }()
	go func() { _ = srv.Serve(wd.Listener(ln)) }()
	tb.Cleanup(func() {
		_ = srv.Close()
		cancel()
		<-done
	})
	return ln.Addr().String(), wd, closed
}

type closedLog struct {
	mu     sync.Mutex
	phases []Phase
}

func (l *closedLog) add(p Phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phases = append(l.phases, p)
}

func (l *closedLog) get() []Phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Phase(nil), l.phases...)
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// waitClosed reads c until the server closes it, and returns how long that
// took from start; it fails past limit.
func waitClosed(t *testing.T, c net.Conn, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", limit)
	}
	return time.Since(start)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func get(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestAHeaderSentByteByByteIsCutOff(t *testing.T) {
	const limit = 300 * time.Millisecond
	addr, wd, closed := serve(t, Timeouts{Header: limit, Idle: time.Minute, Answer: time.Minute}, http.HandlerFunc(ok))
	start := time.Now() // before the dial: surely before the server's accept
	c := dial(t, addr)
	// A slowloris: every byte well within any per-read timeout, the header
	// never finished.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)) {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	took := waitClosed(t, c, start, 10*time.Second)
	if took < limit {
		t.Fatalf("closed after %s, before the header timeout %s", took, limit)
	}
	if got := closed.get(); len(got) != 1 || got[0] != Header {
		t.Fatalf("closed for %v, want [header]", got)
	}
	if n := wd.Len(); n != 0 {
		t.Fatalf("%d connections still watched", n)
	}
}

func TestANewConnectionThatSendsNothingIsCutOff(t *testing.T) {
	const limit = 200 * time.Millisecond
	addr, _, closed := serve(t, Timeouts{Header: limit, Idle: time.Minute, Answer: time.Minute}, http.HandlerFunc(ok))
	start := time.Now() // before the dial: surely before the server's accept
	c := dial(t, addr)
	if took := waitClosed(t, c, start, 10*time.Second); took < limit {
		t.Fatalf("closed after %s, before the header timeout %s", took, limit)
	}
	if got := closed.get(); len(got) != 1 || got[0] != Header {
		t.Fatalf("closed for %v, want [header]", got)
	}
}

func TestAnIdleConnectionIsClosedAfterTheIdleTimeoutOnly(t *testing.T) {
	const idle = 400 * time.Millisecond
	// A header timeout shorter than the idle one: waiting between requests
	// is not reading a header.
	addr, _, closed := serve(t, Timeouts{Header: 100 * time.Millisecond, Idle: idle, Answer: time.Minute}, http.HandlerFunc(ok))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	get(t, c, br)
	time.Sleep(200 * time.Millisecond) // past the header timeout, inside the idle one
	// The wait starts when the server has sent its answer, which is before
	// the client has read it: the clock starts before the request, a point
	// surely before the server's.
	start := time.Now()
	get(t, c, br)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read on the idle connection: %v, want EOF", err)
	}
	if took := time.Since(start); took < idle {
		t.Fatalf("closed after %s idle, before the idle timeout %s", took, idle)
	}
	if got := closed.get(); len(got) != 1 || got[0] != Idle {
		t.Fatalf("closed for %v, want [idle]", got)
	}
}

func TestAClientThatStopsReadingIsCutOff(t *testing.T) {
	const limit = 300 * time.Millisecond
	wrote := make(chan error, 1)
	big := make([]byte, 1<<20)
	addr, _, closed := serve(t, Timeouts{Header: time.Minute, Idle: time.Minute, Answer: limit}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var err error
		for i := 0; i < 256 && err == nil; i++ { // 256 MiB: more than any socket buffer
			_, err = w.Write(big)
		}
		wrote <- err
	}))
	c := dial(t, addr)
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing; the handler's writes block until the watchdog
	// closes the connection.
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("the handler wrote 256 MiB to a client that reads nothing")
		}
		if took := time.Since(start); took < limit {
			t.Fatalf("cut off after %s, before the answer timeout %s", took, limit)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing")
	}
	if got := closed.get(); len(got) != 1 || got[0] != Answer {
		t.Fatalf("closed for %v, want [answer]", got)
	}
}

func TestAKeptAliveRequestHasTheAnswerTimeNotTheHeaderTime(t *testing.T) {
	// net/http reports StateActive only for a request it read from the
	// socket itself, not for one already in its buffer (the usual case on
	// a kept-alive connection, read whole while it waited): the answer's
	// time must start in the handler all the same.
	const header = 150 * time.Millisecond
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * header)
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr, _, closed := serve(t, Timeouts{Header: header, Idle: time.Minute, Answer: time.Minute}, slow)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	for i := range 4 {
		path := "/"
		if i > 0 {
			path = "/slow"
		}
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d (%s): %v; closed for %v", i, path, err, closed.get())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	if got := closed.get(); len(got) != 0 {
		t.Fatalf("closed for %v", got)
	}
}

func TestABusyKeptAliveConnectionStaysOpen(t *testing.T) {
	// Every timeout far shorter than the connection's life, none shorter
	// than one of its phases.
	addr, wd, closed := serve(t, Timeouts{Header: 150 * time.Millisecond, Idle: 150 * time.Millisecond, Answer: 150 * time.Millisecond}, http.HandlerFunc(ok))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	end := time.Now().Add(time.Second)
	n := 0
	for time.Now().Before(end) {
		get(t, c, br)
		n++
		time.Sleep(20 * time.Millisecond)
	}
	if got := closed.get(); len(got) != 0 {
		t.Fatalf("closed for %v after %d requests; a busy connection stays open", got, n)
	}
	if wd.Len() != 1 {
		t.Fatalf("%d connections watched, want 1", wd.Len())
	}
}

func TestAClosedConnectionIsForgotten(t *testing.T) {
	addr, wd, _ := serve(t, Timeouts{Header: time.Minute, Idle: time.Minute, Answer: time.Minute}, http.HandlerFunc(ok))
	c := dial(t, addr)
	get(t, c, bufio.NewReader(c))
	_ = c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for wd.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still watched after the client closed", wd.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingConn counts the deadline changes that reach the socket.
type countingConn struct {
	net.Conn
	reads, writes int
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads++
	return c.Conn.SetReadDeadline(t)
}
func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writes++
	return c.Conn.SetWriteDeadline(t)
}
func (c *countingConn) SetDeadline(t time.Time) error {
	c.reads++
	c.writes++
	return c.Conn.SetDeadline(t)
}

func TestClearingADeadlineThatIsNotSetCostsNothing(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	cc := &countingConn{Conn: server}
	c := &conn{Conn: cc, w: New(Config{})}
	for range 3 {
		_ = c.SetReadDeadline(time.Time{})
		_ = c.SetWriteDeadline(time.Time{})
		_ = c.SetDeadline(time.Time{})
	}
	if cc.reads != 0 || cc.writes != 0 {
		t.Fatalf("%d read and %d write deadline changes reached the socket, want none", cc.reads, cc.writes)
	}
	// A deadline that is set still works, and clearing it reaches the socket.
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if cc.reads != 2 {
		t.Fatalf("%d read deadline changes reached the socket, want 2", cc.reads)
	}
	go func() { _, _ = client.Write([]byte("x")) }()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after the deadline was cleared: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(time.Hour))
	_ = c.SetWriteDeadline(time.Time{})
	_ = c.SetReadDeadline(time.Time{})
	if cc.reads != 4 || cc.writes != 2 {
		t.Fatalf("%d read and %d write deadline changes, want 4 and 2", cc.reads, cc.writes)
	}
}

// TestLateTicksCloseNothingEarly drives the sweeps by hand: the coarse clock
// lags (its ticks came late), a connection goes idle meanwhile and is stamped
// with the stale value; it must keep its whole idle time, counted from the
// sweep that followed its stamp.
func TestLateTicksCloseNothingEarly(t *testing.T) {
	const idle = 100 * time.Millisecond
	var closed closedLog
	wd := New(Config{Timeouts: Timeouts{Header: time.Minute, Idle: idle, Answer: time.Minute}, Expired: closed.add})
	t0 := time.Unix(1_000_000, 0)
	wd.sweep(t0)
	cc, sc := net.Pipe()
	defer cc.Close()
	c := &conn{Conn: sc, w: wd}
	wd.watch(c)
	c.enter(Idle) // really at t0 + 300ms, but the clock still says t0
	wd.sweep(t0.Add(350 * time.Millisecond))
	if n := wd.Len(); n != 1 {
		t.Fatalf("closed 50ms into a 100ms idle wait (the stamp lagged by 300ms): %d watched, closed %v", n, closed.get())
	}
	wd.sweep(t0.Add(440 * time.Millisecond))
	if n := wd.Len(); n != 1 {
		t.Fatalf("closed at most 90ms into a 100ms idle wait: %d watched", n)
	}
	wd.sweep(t0.Add(460 * time.Millisecond))
	if n := wd.Len(); n != 0 {
		t.Fatalf("not closed 110ms after the sweep that followed its stamp: %d watched", n)
	}
	if got := closed.get(); len(got) != 1 || got[0] != Idle {
		t.Fatalf("closed for %v, want [idle]", got)
	}
}
