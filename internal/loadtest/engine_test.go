package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scilifelab/restaurants/internal/testkit/proctest"
)

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunCountsRequestsAndStatusCodes(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "not here", http.StatusNotFound)
		case "/broken":
			http.Error(w, "broken", http.StatusInternalServerError)
		default:
			fmt.Fprint(w, "0123456789")
		}
	}))
	defer srv.Close()

	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL + "/ok", Weight: 1}},
		Connections: 4,
		Duration:    10 * time.Second,
		MaxRequests: 500,
	})
	if rep.Requests != 500 || rep.Responses != 500 || served.Load() != 500 {
		t.Fatalf("requests %d responses %d served %d, want 500 each", rep.Requests, rep.Responses, served.Load())
	}
	if rep.StatusCodes["200"] != 500 || rep.BodyBytes != 5000 {
		t.Errorf("status %v bytes %d, want 500 x 200 and 5000 bytes", rep.StatusCodes, rep.BodyBytes)
	}
	if rep.Connects != 4 {
		t.Errorf("connects %d, want 4 (one keep-alive connection per worker)", rep.Connects)
	}
	if rep.Latency.Count != 500 || rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 {
		t.Errorf("latency %+v inconsistent", rep.Latency)
	}
	if rep.Errors() != 0 {
		t.Errorf("errors %d, want 0", rep.Errors())
	}

	rep = mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL + "/ok", Weight: 1}, {URL: srv.URL + "/missing", Weight: 1}, {URL: srv.URL + "/broken", Weight: 2}},
		Connections: 3,
		Duration:    10 * time.Second,
		MaxRequests: 800,
	})
	if rep.Responses != 800 {
		t.Fatalf("responses %d, want 800", rep.Responses)
	}
	// Weights 1:1:2 over 800 requests: expect 200/200/400, allow wide bounds.
	for code, want := range map[string]int64{"200": 200, "404": 200, "500": 400} {
		if got := rep.StatusCodes[code]; got < want*6/10 || got > want*14/10 {
			t.Errorf("status %s: %d answers, want about %d (weights)", code, got, want)
		}
	}
	if rep.ServerErrors != rep.StatusCodes["500"] || rep.Errors() != rep.ServerErrors {
		t.Errorf("server errors %d, 500s %d, errors %d", rep.ServerErrors, rep.StatusCodes["500"], rep.Errors())
	}
}

func TestRunPlaceholdersMakeDistinctPaths(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.RequestURI()]++
		mu.Unlock()
	}))
	defer srv.Close()
	mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL + "/restaurant/k{seq}?r={rand}", Weight: 1}},
		Connections: 2,
		Duration:    10 * time.Second,
		MaxRequests: 200,
	})
	if len(seen) != 200 {
		t.Fatalf("%d distinct paths for 200 requests, want 200", len(seen))
	}
	for p := range seen {
		if strings.Contains(p, "{") || !strings.HasPrefix(p, "/restaurant/k") {
			t.Fatalf("placeholder not expanded: %q", p)
		}
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	// A port with nothing listening: every request is refused.
	addr := proctest.ClosedAddr(t)
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: "http://" + addr + "/", Weight: 1}},
		Connections: 2,
		Duration:    10 * time.Second,
		MaxRequests: 20,
	})
	if rep.TransportErrors != 20 || rep.Responses != 0 {
		t.Fatalf("transport errors %d responses %d, want 20 and 0", rep.TransportErrors, rep.Responses)
	}
	if rep.ErrorKinds["connection refused"] != 20 {
		t.Errorf("error kinds %v, want 20 x connection refused", rep.ErrorKinds)
	}

	// A server that drops the connection mid-body.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("short"))
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	rep = mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL, Weight: 1}},
		Connections: 1,
		Duration:    10 * time.Second,
		MaxRequests: 5,
	})
	if rep.TransportErrors != 5 {
		t.Fatalf("transport errors %d (%v), want 5 truncated bodies", rep.TransportErrors, rep.ErrorKinds)
	}
}

func TestRunRespectsDurationWithHangingServer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	// The server never answers: without the bounds the run would last as
	// long as the test. Each worker that started before the end sends one
	// request (the timeout is longer than the run) and gives up on it.
	start := time.Now()
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL, Weight: 1}},
		Connections: 3,
		Duration:    200 * time.Millisecond,
		Timeout:     400 * time.Millisecond,
	})
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("run took %v; duration 200ms + timeout 400ms should bound it", took)
	}
	if rep.Requests < 1 || rep.Requests > 3 || rep.TransportErrors != rep.Requests || rep.ErrorKinds["timeout"] != rep.Requests {
		t.Errorf("requests %d transport errors %d kinds %v, want at most one timeout per connection", rep.Requests, rep.TransportErrors, rep.ErrorKinds)
	}
	if rep.Latency.Min < 400*0.999 {
		t.Errorf("min latency %.1f ms: a request gave up before its 400 ms timeout", rep.Latency.Min)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Millisecond) }))
	defer srv.Close()
	// No request starts after the end, and one in flight then ends by its
	// timeout: the run lasts at least its duration, and not much longer than
	// duration + timeout (a run that ignored its end would never stop).
	start := time.Now()
	rep := mustRun(t, Config{Targets: []Target{{URL: srv.URL, Weight: 1}}, Connections: 2, Duration: time.Second, Timeout: 5 * time.Second})
	took := time.Since(start)
	if took < time.Second || took > 30*time.Second {
		t.Fatalf("run took %v, want 1 s to 1 s + the 5 s timeout (with room for a loaded machine)", took)
	}
	if rep.Requests == 0 || rep.ElapsedSeconds < 1 {
		t.Fatalf("requests %d elapsed %.3f", rep.Requests, rep.ElapsedSeconds)
	}
}

func TestRunRefusesUnboundedOrInvalidConfig(t *testing.T) {
	good := []Target{{URL: "http://127.0.0.1:1/", Weight: 1}}
	for name, cfg := range map[string]Config{
		"no duration":   {Targets: good},
		"negative rate": {Targets: good, Duration: time.Second, Rate: -1},
		"no targets":    {Duration: time.Second},
		"bad scheme":    {Targets: []Target{{URL: "ftp://127.0.0.1/", Weight: 1}}, Duration: time.Second},
		"zero weight":   {Targets: []Target{{URL: "http://127.0.0.1/", Weight: 0}}, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	// Every request hangs until the run is canceled, which happens once
	// both connections' requests are at the server (or after a minute,
	// when the run would have ended anyway and the counts below fail).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	canceledAt := make(chan time.Time, 1)
	go func() {
		for range 2 {
			select {
			case <-arrived:
			case <-ctx.Done():
				return
			}
		}
		canceledAt <- time.Now()
		cancel()
	}()
	rep, err := Run(ctx, Config{Targets: []Target{{URL: srv.URL + "/hang", Weight: 1}}, Connections: 2, Duration: 2 * time.Minute, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-canceledAt:
		if took := time.Since(at); took > 30*time.Second {
			t.Fatalf("the run ended %v after it was canceled", took)
		}
	default:
		t.Fatalf("the requests did not reach the server within a minute (report %+v)", rep)
	}
	if rep.Canceled != 2 || rep.Requests != 0 || rep.TransportErrors != 0 {
		t.Errorf("canceled %d requests %d transport errors %d: want the 2 hanging requests canceled, not counted as errors",
			rep.Canceled, rep.Requests, rep.TransportErrors)
	}
}

func TestOpenLoopRate(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL, Weight: 1}},
		Connections: 4,
		Rate:        200,
		Duration:    time.Second,
	})
	if rep.Mode != "open" || rep.Rate != 200 {
		t.Errorf("mode %q rate %v", rep.Mode, rep.Rate)
	}
	// 200 req/s for 1 s: exactly 200 intended requests, each sent or, on a
	// machine too busy to send it within a timeout of its time, missed;
	// never more than the rate allows.
	if rep.Requests+rep.Missed != 200 || rep.Requests > 200 || served.Load() > 200 {
		t.Fatalf("requests %d + missed %d, served %d: want 200 intended requests, each sent or missed", rep.Requests, rep.Missed, served.Load())
	}
	// The last one is due at 995 ms and is not sent before its time.
	if rep.ElapsedSeconds < 0.995 {
		t.Errorf("elapsed %.3fs: requests were sent ahead of schedule", rep.ElapsedSeconds)
	}
}

// A server that takes 100 ms per request, one connection, 50 req/s intended:
// it can serve only 10 req/s, so requests queue behind each other. Latency from
// the intended send time shows the queueing; a closed loop would show 100 ms.
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL, Weight: 1}},
		Connections: 1,
		Rate:        50,
		Duration:    time.Second,
		Timeout:     300 * time.Millisecond,
	})
	// Request k (from 0) is due at k x 20 ms but cannot start before the
	// k before it took 100 ms each: counted from its due time it took at
	// least 80k + 100 ms, however slow the machine.
	n := rep.Requests
	if n < 1 {
		t.Fatalf("no request sent (missed %d)", rep.Missed)
	}
	if want := float64(80*(n-1) + 100); rep.Latency.Max < want*0.999 {
		t.Errorf("max latency %.1f ms over %d requests, want >= %.0f ms: queueing behind a 100 ms server at 5x its capacity must show", rep.Latency.Max, n, want)
	}
	// One connection, 100 ms a request, sending up to 300 ms after the
	// end: at most 14 of the 50 are sent, the rest are missed and counted.
	if rep.Requests+rep.Missed != 50 || rep.Missed < 36 {
		t.Errorf("requests %d missed %d, want 50 intended and at least 36 missed", rep.Requests, rep.Missed)
	}
	if rep.Errors() < rep.Missed {
		t.Errorf("errors %d, want the missed %d among them", rep.Errors(), rep.Missed)
	}

	// A closed loop sends when the answer is in: it misses nothing, and
	// measures only the server's time (at least its 100 ms).
	closed := mustRun(t, Config{Targets: []Target{{URL: srv.URL, Weight: 1}}, Connections: 1, Duration: 500 * time.Millisecond})
	if closed.Mode != "closed" || closed.Missed != 0 || closed.Requests < 1 || closed.Latency.Min < 100*0.999 {
		t.Errorf("closed loop: mode %s, %d requests, %d missed, min latency %.1f ms", closed.Mode, closed.Requests, closed.Missed, closed.Latency.Min)
	}
}

func TestChunkedHeadAndConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", "42")
			return
		}
		_, _ = w.Write([]byte("abc"))
		w.(http.Flusher).Flush() // forces chunked encoding
		_, _ = w.Write([]byte("defg"))
	}))
	defer srv.Close()

	rep := mustRun(t, Config{Targets: []Target{{URL: srv.URL + "/chunked", Weight: 1}}, Connections: 1, Duration: 10 * time.Second, MaxRequests: 10})
	if rep.BodyBytes != 70 || rep.StatusCodes["200"] != 10 || rep.Connects != 1 {
		t.Errorf("chunked: bytes %d status %v connects %d, want 70, 10 x 200, 1", rep.BodyBytes, rep.StatusCodes, rep.Connects)
	}
	rep = mustRun(t, Config{Targets: []Target{{URL: srv.URL + "/head", Weight: 1}}, Method: http.MethodHead, Connections: 1, Duration: 10 * time.Second, MaxRequests: 10})
	if rep.BodyBytes != 0 || rep.StatusCodes["200"] != 10 || rep.Connects != 1 {
		t.Errorf("HEAD: bytes %d status %v connects %d, want 0, 10 x 200, 1", rep.BodyBytes, rep.StatusCodes, rep.Connects)
	}
	rep = mustRun(t, Config{Targets: []Target{{URL: srv.URL + "/close", Weight: 1}}, Connections: 1, Duration: 10 * time.Second, MaxRequests: 10})
	if rep.StatusCodes["200"] != 10 || rep.Connects != 10 || rep.TransportErrors != 0 {
		t.Errorf("Connection: close: status %v connects %d errors %v, want 10 x 200 on 10 connections", rep.StatusCodes, rep.Connects, rep.ErrorKinds)
	}
}

// A server that answers one request per connection and then closes it
// without saying so: the next request on that connection meets a closed
// keep-alive connection and is sent again on a new one, not counted as an error.
func TestRetryOnSilentlyClosedKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	rep := mustRun(t, Config{Targets: []Target{{URL: "http://" + ln.Addr().String() + "/", Weight: 1}}, Connections: 1, Duration: 10 * time.Second, MaxRequests: 20})
	if rep.StatusCodes["200"] != 20 || rep.TransportErrors != 0 {
		t.Fatalf("status %v errors %v, want 20 x 200 and no errors", rep.StatusCodes, rep.ErrorKinds)
	}
	if rep.Connects != 20 {
		t.Errorf("connects %d, want 20", rep.Connects)
	}
}

func TestProgressCallback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Millisecond) }))
	defer srv.Close()
	var mu sync.Mutex
	var got []Progress
	rep := mustRun(t, Config{
		Targets: []Target{{URL: srv.URL, Weight: 1}}, Connections: 1, Duration: 2200 * time.Millisecond,
		Progress: func(p Progress) { mu.Lock(); got = append(got, p); mu.Unlock() },
	})
	mu.Lock()
	defer mu.Unlock()
	// A call a second at most, each at least a second after the last, and
	// at least one call for a run longer than a second, however busy the
	// machine.
	if len(got) < 1 || len(got) > int(rep.ElapsedSeconds) {
		t.Fatalf("%d progress calls in %.2f s, want 1 to one a second", len(got), rep.ElapsedSeconds)
	}
	first := got[0]
	if first.Elapsed < time.Second || math.Abs(first.RequestsPerSecond-float64(first.Requests)/first.Elapsed.Seconds()) > 1e-6*first.RequestsPerSecond {
		t.Errorf("first progress %+v: want at least 1 s in, at the rate of its requests", first)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Requests < got[i-1].Requests || got[i].Elapsed < got[i-1].Elapsed+time.Second/2 {
			t.Errorf("progress %d %+v after %+v", i, got[i], got[i-1])
		}
	}
	if last := got[len(got)-1]; last.Requests > rep.Requests || last.Elapsed.Seconds() > rep.ElapsedSeconds {
		t.Errorf("last progress %+v beyond the report (%d requests in %.2f s)", last, rep.Requests, rep.ElapsedSeconds)
	}
}

// Requests intended before the end but still queued at the end are sent
// within one timeout after it, their latency counting the wait.
func TestOpenLoopSendsLateRequestsAfterTheEnd(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	defer srv.Close()
	// The backlog of about a second is well inside the 30 s timeout.
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL, Weight: 1}},
		Connections: 1,
		Rate:        100,
		Duration:    500 * time.Millisecond,
		Timeout:     30 * time.Second,
	})
	if rep.Requests != 50 || rep.Missed != 0 {
		t.Fatalf("requests %d missed %d, want all 50 intended requests sent", rep.Requests, rep.Missed)
	}
	// Request k is due at 10k ms and cannot start before 20k ms: the last
	// (k = 49) waited at least 510 ms, and the run lasted at least 1 s.
	if rep.Latency.Max < 510*0.999 || rep.ElapsedSeconds < 1 {
		t.Errorf("max latency %.1f ms after %.2fs: the backlog's wait must show", rep.Latency.Max, rep.ElapsedSeconds)
	}
}

// A run counts the answers by the values of one response header: the
// share of hits a cache in front served, whichever cache it is.
func TestCountHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hit":
			w.Header().Set("X-Cache", "HIT")
		case "/miss":
			w.Header().Set("X-Cache", "MISS")
		case "/many":
			w.Header().Set("X-Cache", r.URL.Query().Get("v"))
		}
	}))
	defer srv.Close()
	rep := mustRun(t, Config{
		Targets:     []Target{{URL: srv.URL + "/hit", Weight: 1}, {URL: srv.URL + "/miss", Weight: 1}, {URL: srv.URL + "/none", Weight: 1}},
		Connections: 2, Duration: 10 * time.Second, MaxRequests: 300, CountHeader: "x-cache",
	})
	hv := rep.HeaderValues
	if hv["HIT"]+hv["MISS"]+hv[HeaderAbsent] != 300 || hv["HIT"] == 0 || hv["MISS"] == 0 || hv[HeaderAbsent] == 0 || len(hv) != 3 {
		t.Fatalf("header values %v, want 300 answers split over HIT, MISS and absent", hv)
	}
	if got, want := rep.HeaderShare("HIT"), float64(hv["HIT"])/300; got != want {
		t.Errorf("HIT share %v, want %v", got, want)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), "x-cache     (absent): ") || !strings.Contains(b.String(), " HIT: ") {
		t.Errorf("text report: %v\n%s", err, b.String())
	}

	// Distinct values are bounded; the rest are counted together.
	rep = mustRun(t, Config{Targets: []Target{{URL: srv.URL + "/many?v={seq}", Weight: 1}}, Connections: 1, Duration: 10 * time.Second,
		MaxRequests: 100, CountHeader: "X-Cache"})
	if len(rep.HeaderValues) != maxHeaderValues+1 || rep.HeaderValues[HeaderOther] != 100-maxHeaderValues {
		t.Errorf("%d distinct values kept, %d other; want %d and %d", len(rep.HeaderValues), rep.HeaderValues[HeaderOther], maxHeaderValues, 100-maxHeaderValues)
	}

	// Without CountHeader nothing is counted.
	rep = mustRun(t, Config{Targets: []Target{{URL: srv.URL + "/hit", Weight: 1}}, Connections: 1, Duration: 10 * time.Second, MaxRequests: 5})
	if rep.HeaderValues != nil || rep.HeaderShare("HIT") != 0 {
		t.Errorf("header values %v without CountHeader", rep.HeaderValues)
	}
}
