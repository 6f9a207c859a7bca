package relay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// discard is a ResponseWriter that keeps nothing, so that a benchmark
// measures the relay rather than a recorder.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// BenchmarkHit measures the hit path in process: routing, the cache lookup
// and the headers, without the network.
func BenchmarkHit(b *testing.B) {
	f := newFixture(b, jsonHandler(200, listJSON), defaults())
	h := NewRouter(f.relay)
	req := httptest.NewRequest(http.MethodGet, "/restaurant/dufva", nil)
	w := &discard{h: make(http.Header)}
	h.ServeHTTP(w, req) // the miss that fills the cache
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkHitTraced is BenchmarkHit with tracing on, as the relay runs
// with an OTLP endpoint set: otelhttp's server span around the router, the
// cache's attributes on it, and a batching processor in front of the SDK's
// in-memory exporter (emptied as it goes, so memory stays bounded). The
// difference from BenchmarkHit is the cost of tracing per hit.
func BenchmarkHitTraced(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o := defaults()
	o.tracer = tp.Tracer("bench")
	f := newFixture(b, jsonHandler(200, listJSON), o)
	h := otelhttp.NewHandler(NewRouter(f.relay), "relay", otelhttp.WithTracerProvider(tp))
	req := httptest.NewRequest(http.MethodGet, "/restaurant/dufva", nil)
	w := &discard{h: make(http.Header)}
	h.ServeHTTP(w, req) // the miss that fills the cache
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
		if n++; n%4096 == 0 {
			exp.Reset()
		}
	}
	b.StopTimer()
	if err := tp.ForceFlush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if n > 0 && len(exp.GetSpans()) == 0 && n < 4096 {
		b.Fatal("no span exported")
	}
}

// BenchmarkHitParallel is BenchmarkHit on every core at once: what the
// cores share on the hit path (counters, the hot set) shows here.
func BenchmarkHitParallel(b *testing.B) {
	f := newFixture(b, jsonHandler(200, listJSON), defaults())
	h := NewRouter(f.relay)
	fill := &discard{h: make(http.Header)}
	h.ServeHTTP(fill, httptest.NewRequest(http.MethodGet, "/restaurant/dufva", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/restaurant/dufva", nil)
		w := &discard{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
			if w.code != 200 {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}

// BenchmarkHitHTTP measures hits over loopback HTTP with keep-alive clients;
// BenchmarkFixedHTTP is the same load on a handler writing fixed bytes, the
// ceiling any relay can reach here. Compare the two from one run.
func BenchmarkHitHTTP(b *testing.B) {
	f := newFixture(b, jsonHandler(200, listJSON), defaults())
	benchHTTP(b, f.server.URL+"/restaurant/dufva")
}

// BenchmarkFixedHTTP is the reference for BenchmarkHitHTTP.
func BenchmarkFixedHTTP(b *testing.B) {
	body := []byte(listJSON)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	benchHTTP(b, srv.URL+"/restaurant/dufva")
}

func benchHTTP(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	if resp, err := client.Get(url); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportAllocs()
	b.SetParallelism(10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
