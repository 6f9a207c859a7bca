package menuapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandler measures the stand-in's own cost per answer (no network),
// so benchmarks of the relay can tell it is not the bottleneck.
func BenchmarkHandler(b *testing.B) {
	h, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/restaurant", "/api/restaurant/dufva", "/api/restaurant/nosuch"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			w := &countingWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
