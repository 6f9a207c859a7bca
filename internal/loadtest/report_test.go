package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSummarizeKnownData(t *testing.T) {
	h := newHistogram()
	// 1..10000 microseconds, each once: the p-th percentile is p*100 µs.
	for us := int64(1); us <= 10000; us++ {
		if err := h.RecordValue(us); err != nil {
			t.Fatal(err)
		}
	}
	l := Summarize(h)
	for name, c := range map[string]struct{ got, want float64 }{
		"p50":   {l.P50, 5.0},
		"p90":   {l.P90, 9.0},
		"p99":   {l.P99, 9.9},
		"p99.9": {l.P999, 9.99},
		"max":   {l.Max, 10.0},
		"min":   {l.Min, 0.001},
		"mean":  {l.Mean, 5.0005},
	} {
		// three significant digits: within 0.1% (plus one bucket)
		if math.Abs(c.got-c.want) > c.want*0.002 {
			t.Errorf("%s = %.4f ms, want %.4f", name, c.got, c.want)
		}
	}
	if l.Count != 10000 {
		t.Errorf("count %d", l.Count)
	}
	if got := Summarize(newHistogram()); got != (Latency{}) {
		t.Errorf("empty histogram summary %+v, want zero", got)
	}
}

func TestShardRecordClampsAndClassifies(t *testing.T) {
	s := newShard(&timelineRec{width: time.Second})
	s.record(-time.Second, 0, 200, 3, nil)
	s.record(2*time.Hour, 0, 503, 0, nil)
	s.record(time.Millisecond, 0, 0, 0, context.DeadlineExceeded)
	if s.count != 3 || s.errs != 1 || s.status[200] != 1 || s.status[503] != 1 || s.errKinds["timeout"] != 1 {
		t.Fatalf("shard %+v", s)
	}
	if s.hist.Min() != histMinMicros || !s.hist.ValuesAreEquivalent(s.hist.Max(), histMaxMicros) {
		t.Errorf("min %d max %d, want clamped to [%d, %d]", s.hist.Min(), s.hist.Max(), histMinMicros, histMaxMicros)
	}
}

func TestReportJSONShape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	rep := mustRun(t, Config{Targets: []Target{{URL: srv.URL, Weight: 1}}, Connections: 2, Duration: 10 * time.Second, MaxRequests: 50})
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"mode", "connections", "duration_seconds", "elapsed_seconds", "requests", "responses",
		"transport_errors", "server_errors", "requests_per_second", "body_bytes", "connects", "latency_ms", "status_codes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if _, ok := m["metrics"]; ok {
		t.Error("metrics present though none were scraped")
	}
	lat, _ := m["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p99_9", "max", "min", "mean", "count"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
	if m["requests"].(float64) != 50 || m["status_codes"].(map[string]any)["200"].(float64) != 50 || m["body_bytes"].(float64) != 550 {
		t.Errorf("JSON numbers wrong: %s", buf.String())
	}

	buf.Reset()
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed loop: 2 connections", "requests    50 in", "p99.9", "200: 50", "0 transport, 0 5xx"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, buf.String())
		}
	}
}
