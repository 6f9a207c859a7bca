package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/scilifelab/restaurants/internal/cache"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
)

// tracedUpstream is a stand-in upstream that remembers the traceparent of
// each call and answers 304 to a matching If-None-Match. Until release is
// closed (when set), it holds every call.
type tracedUpstream struct {
	*httptest.Server
	release chan struct{}

	mu           sync.Mutex
	traceparents []string
}

func newTracedUpstream(t *testing.T, hold bool) *tracedUpstream {
	u := &tracedUpstream{}
	if hold {
		u.release = make(chan struct{})
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.traceparents = append(u.traceparents, r.Header.Get("Traceparent"))
		u.mu.Unlock()
		if u.release != nil {
			select {
			case <-u.release:
			case <-time.After(5 * time.Second):
			}
		}
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *tracedUpstream) calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.traceparents...)
}

// serveTraced serves a relay of up with tp (nil: tracing off) and returns
// its URL.
func serveTraced(t *testing.T, up string, tp trace.TracerProvider, flags ...string) string {
	t.Helper()
	relay, _ := serveAppOf(t, up, func(cfg *Config) { cfg.Tracing = tp }, flags...)
	return "http://" + relay
}

func recorder() (*tracetest.SpanRecorder, trace.TracerProvider) {
	rec := tracetest.NewSpanRecorder()
	return rec, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
}

// ended waits until rec holds n ended spans that match keep, and returns them.
func ended(t *testing.T, rec *tracetest.SpanRecorder, n int, keep func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if keep == nil || keep(s) {
				got = append(got, s)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%d spans ended, want %d:\n%s", len(got), n, dump(rec.Ended()))
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dump(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Name() + " " + s.SpanContext().SpanID().String() + " parent " + s.Parent().SpanID().String())
		for _, a := range s.Attributes() {
			b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := named(spans, name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %s, want 1:\n%s", len(got), name, dump(spans))
	}
	return got[0]
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func childOf(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("%s is not a child of %s: parent %s, want %s", child.Name(), parent.Name(), child.Parent().SpanID(), parent.SpanContext().SpanID())
	}
}

func getWith(t *testing.T, url string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

func TestTracingMissContinuesTheCallersTraceToTheUpstream(t *testing.T) {
	up := newTracedUpstream(t, false)
	rec, tp := recorder()
	relay := serveTraced(t, up.URL, tp)

	if code := getWith(t, relay+"/restaurant/dufva", "Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01"); code != 200 {
		t.Fatalf("status %d", code)
	}
	spans := ended(t, rec, 4, nil)
	server := one(t, spans, "GET")
	fetch := one(t, spans, cache.SpanFetch)
	call := one(t, spans, cache.SpanUpstream)
	client := one(t, spans, "HTTP GET")

	if server.SpanKind() != trace.SpanKindServer || server.SpanContext().TraceID().String() != clientTrace || server.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span %v in trace %s under %s, want a server span continuing the caller's", server.SpanKind(), server.SpanContext().TraceID(), server.Parent().SpanID())
	}
	if attr(server, "cache.state") != "miss" || attr(server, "cache.key") != "restaurant/dufva" {
		t.Errorf("server span: cache.state %q cache.key %q, want miss and the key", attr(server, "cache.state"), attr(server, "cache.key"))
	}
	childOf(t, fetch, server)
	childOf(t, call, fetch)
	childOf(t, client, call)
	if attr(fetch, "cache.state") != "miss" || attr(fetch, "cache.stored") != "true" {
		t.Errorf("fetch span: %s", dump([]sdktrace.ReadOnlySpan{fetch}))
	}
	if attr(call, "http.response.status_code") != "200" || attr(call, "upstream.not_modified") != "false" || attr(call, "upstream.conditional") != "false" {
		t.Errorf("upstream span: %s", dump([]sdktrace.ReadOnlySpan{call}))
	}
	calls := up.calls()
	want := "00-" + clientTrace + "-" + client.SpanContext().SpanID().String() + "-01"
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("upstream got traceparent %q, want %q", calls, want)
	}

	// A hit: one server span, no fetch.
	rec2 := len(rec.Ended())
	if code := getWith(t, relay+"/restaurant/dufva"); code != 200 {
		t.Fatalf("status %d", code)
	}
	spans = ended(t, rec, rec2+1, nil)[rec2:]
	if s := spans[0]; s.Name() != "GET" || attr(s, "cache.state") != "hit" {
		t.Errorf("hit: %s", dump(spans))
	}
}

func TestTracingCoalescedWaitsLinkToTheOneFetch(t *testing.T) {
	up := newTracedUpstream(t, true)
	rec, tp := recorder()
	relay := serveTraced(t, up.URL, tp)

	const n = 3
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Go(func() {
			resp, err := http.Get(relay + "/restaurant/dufva")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	// Hold the upstream until the other requests wait for the first one's fetch.
	deadline := time.Now().Add(5 * time.Second)
	for {
		waits := 0
		for _, s := range rec.Started() {
			if s.Name() == cache.SpanWait {
				waits++
			}
		}
		if waits == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", waits, n-1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(up.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	spans := ended(t, rec, 2*n+2, nil) // n server spans, n-1 waits, fetch, call, client
	fetch := one(t, spans, cache.SpanFetch)
	if len(up.calls()) != 1 {
		t.Fatalf("%d upstream calls, want 1", len(up.calls()))
	}
	states := map[string]int{}
	for _, server := range named(spans, "GET") {
		states[attr(server, "cache.state")]++
		if attr(server, "cache.state") == "miss" {
			childOf(t, fetch, server)
		}
	}
	if states["miss"] != 1 || states["coalesced"] != n-1 {
		t.Errorf("request states %v, want one miss and %d coalesced", states, n-1)
	}
	for _, w := range named(spans, cache.SpanWait) {
		var server sdktrace.ReadOnlySpan
		for _, s := range named(spans, "GET") {
			if s.SpanContext().SpanID() == w.Parent().SpanID() {
				server = s
			}
		}
		if server == nil || attr(server, "cache.state") != "coalesced" || attr(w, "cache.state") != "coalesced" {
			t.Errorf("wait span %s not under a coalesced request:\n%s", w.SpanContext().SpanID(), dump(spans))
		}
		if l := w.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != fetch.SpanContext().SpanID() {
			t.Errorf("wait span links %v, want the fetch %s", l, fetch.SpanContext().SpanID())
		}
	}
}

func TestTracingStaleServeRefreshesInItsOwnLinkedSpan(t *testing.T) {
	up := newTracedUpstream(t, false)
	rec, tp := recorder()
	relay := serveTraced(t, up.URL, tp, "--fixed-ttl", "--cache-ttl", "200ms")

	if code := getWith(t, relay+"/restaurant/dufva"); code != 200 {
		t.Fatalf("status %d", code)
	}
	first := len(ended(t, rec, 4, nil))
	time.Sleep(300 * time.Millisecond) // past the TTL, inside stale-while-revalidate
	if code := getWith(t, relay+"/restaurant/dufva"); code != 200 {
		t.Fatalf("status %d", code)
	}
	spans := ended(t, rec, first+4, nil)[first:] // server, refresh, call, client
	server := one(t, spans, "GET")
	refresh := one(t, spans, cache.SpanRefresh)
	call := one(t, spans, cache.SpanUpstream)
	if attr(server, "cache.state") != "stale" {
		t.Errorf("server span: %s", dump(spans))
	}
	if refresh.Parent().IsValid() {
		t.Errorf("refresh span has parent %s, want a root of its own", refresh.Parent().SpanID())
	}
	if l := refresh.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != server.SpanContext().SpanID() {
		t.Errorf("refresh links %v, want the request %s that served the stale copy", l, server.SpanContext().SpanID())
	}
	childOf(t, call, refresh)
	if attr(call, "upstream.conditional") != "true" || attr(call, "http.response.status_code") != "304" || attr(call, "upstream.not_modified") != "true" {
		t.Errorf("refresh's upstream call: %s", dump([]sdktrace.ReadOnlySpan{call}))
	}
	if attr(refresh, "cache.state") != "revalidated" || attr(refresh, "cache.key") != "restaurant/dufva" {
		t.Errorf("refresh span: %s", dump([]sdktrace.ReadOnlySpan{refresh}))
	}
}

func TestTracingOffAddsNothing(t *testing.T) {
	h := http.NewServeMux()
	if tracedTransport(nil) != nil || tracedRedis(nil) != nil || cacheTracer(nil) != nil {
		t.Error("tracing off still instruments the upstream, the shared tier or the cache")
	}
	if got := tracedHandler(h, nil); got != http.Handler(h) {
		t.Errorf("tracing off wraps the handler: %T", got)
	}
	if got := tracedHandler(h, sdktrace.NewTracerProvider()); got == http.Handler(h) {
		t.Error("tracing on leaves the handler unwrapped")
	}
	up := newTracedUpstream(t, false)
	relay := serveTraced(t, up.URL, nil)
	if code := getWith(t, relay+"/restaurant/dufva", "Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01"); code != 200 {
		t.Fatalf("status %d", code)
	}
	if calls := up.calls(); len(calls) != 1 || calls[0] != "" {
		t.Errorf("upstream got traceparent %q with tracing off, want none", calls)
	}
}

func TestTracingSharedTierCommandsAreUnderTheFetch(t *testing.T) {
	rs := redistest.Start(t)
	up := newTracedUpstream(t, false)
	rec, tp := recorder()
	relay := serveTraced(t, up.URL, tp, "--shared-cache", rs.URL(), "--shared-cache-signing-key", testSigningKey, "--shared-cache-timeout", "1s")

	if code := getWith(t, relay+"/restaurant/dufva"); code != 200 {
		t.Fatalf("status %d", code)
	}
	time.Sleep(500 * time.Millisecond) // the tier's own pings and subscription meanwhile
	all := rec.Ended()
	fetch := one(t, all, cache.SpanFetch)
	if g := eventGrant(fetch); g != "granted" {
		t.Errorf("fetch's claim grant %q, want granted:\n%s", g, dump(all))
	}
	// A command may dial a connection on its way, whose handshake (HELLO)
	// is a span of its own below that command: under the fetch all the same.
	parents := make(map[trace.SpanID]trace.SpanID, len(all))
	for _, s := range all {
		parents[s.SpanContext().SpanID()] = s.Parent().SpanID()
	}
	underFetch := func(id trace.SpanID) bool {
		for range len(all) {
			p, ok := parents[id]
			if !ok || !p.IsValid() {
				return false
			}
			if p == fetch.SpanContext().SpanID() {
				return true
			}
			id = p
		}
		return false
	}
	var under int
	for _, s := range all {
		if attr(s, "db.system") == "" && attr(s, "db.system.name") == "" {
			continue
		}
		if !underFetch(s.SpanContext().SpanID()) {
			t.Errorf("redis span %s not under the fetch (the tier's own work must make none):\n%s", s.Name(), dump(all))
			continue
		}
		under++
	}
	if under < 2 { // at least the read and the claim
		t.Errorf("%d redis spans under the fetch, want the tier's commands:\n%s", under, dump(all))
	}
}

func eventGrant(s sdktrace.ReadOnlySpan) string {
	for _, e := range s.Events() {
		if e.Name == cache.EventClaim {
			for _, a := range e.Attributes {
				if a.Key == cache.AttrGrant {
					return a.Value.Emit()
				}
			}
		}
	}
	return ""
}

func TestMainRefusesAnUnknownOTLPProtocol(t *testing.T) {
	vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
	for k, v := range keepGC {
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), "test", []string{"--listen", "127.0.0.1:0", "--admin-listen", "localhost:0"}, &stdout, &stderr, env(vars))
	if code != 2 || !strings.Contains(stderr.String(), "http/json") {
		t.Errorf("exit %d, stderr %q; want 2 naming the protocol", code, stderr.String())
	}
}

// TestMainExportsSpansAndFlushesAtShutdown runs the relay's command line
// with an OTLP endpoint in the environment: its spans reach an in-process
// receiver, flushed when it stops.
func TestMainExportsSpansAndFlushesAtShutdown(t *testing.T) {
	var mu sync.Mutex
	var names []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "want an OTLP export at /v1/traces", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		mu.Unlock()
	}))
	defer receiver.Close()
	up := newTracedUpstream(t, false)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL) // the exporter reads the process's environment
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")          // nothing exported before the shutdown's flush
	vars := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.URL, "RESTAURANTS_UPSTREAM": up.URL + "/api/", "RESTAURANTS_LOG_FORMAT": "json"}
	for k, v := range keepGC {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr proctest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, "test", []string{"--listen", "127.0.0.1:0", "--admin-listen", "localhost:0", "--drain-delay", "0s"}, &stdout, &stderr, env(vars))
	}()
	var serving struct{ Listen string }
	for deadline := time.Now().Add(10 * time.Second); serving.Listen == ""; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"serving"`) {
				_ = json.Unmarshal([]byte(line), &serving)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving log line after 10s: %s", stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"tracing on"`) {
		t.Errorf("no tracing on log line: %s", stderr.String())
	}
	if code := getWith(t, "http://"+serving.Listen+"/restaurant/dufva"); code != 200 {
		t.Fatalf("status %d", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Main = %d, want 0: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Main still running 15s after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]bool{"GET": false, cache.SpanFetch: false, cache.SpanUpstream: false}
	for _, n := range names {
		if _, ok := want[n]; ok {
			want[n] = true
		}
	}
	for n, seen := range want {
		if !seen {
			t.Errorf("span %s not received; got %v", n, names)
		}
	}
	if calls := up.calls(); len(calls) != 1 || calls[0] == "" {
		t.Errorf("upstream traceparents %q, want one", calls)
	}
}
