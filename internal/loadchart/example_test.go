package loadchart_test

import (
	"context"
	"log"
	"time"

	"github.com/scilifelab/restaurants/internal/loadchart"
	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// A report of a cluster run: the load with a probe of the ready replicas
// beside the relay's upstream calls, and the events marked on every time
// axis. readyReplicas stands for a read of the Deployment's status.
func Example() {
	ctx := context.Background()
	readyReplicas := func(context.Context) (float64, error) { return 2, nil }
	started := time.Now()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Targets:     []loadtest.Target{{URL: "http://127.0.0.1:8000/restaurant", Weight: 1}},
		Connections: 20,
		Duration:    150 * time.Second,
		Probes: []loadtest.Probe{
			{Name: "ready replicas", Read: readyReplicas},
			loadtest.MetricsProbe("upstream calls", "http://127.0.0.1:9090/metrics", loadtest.MetricUpstreamRequests, true, false),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	upgraded := started.Add(40 * time.Second) // when the e2e saw it happen
	marks := []report.Mark{{X: rep.At(upgraded), Label: "helm upgrade"}}
	page := &report.Page{Title: "make kind-e2e", Sections: []report.Section{{
		ID: "upgrade", Title: "rolling upgrade under load",
		Charts: loadchart.Charts(rep, "upgrade", marks), // spectrum, req/s, latency, errors, replicas, upstream calls
		Tables: []report.Table{loadchart.Summary(rep)},
	}}}
	if err := page.WriteFile("e2e.html"); err != nil {
		log.Fatal(err)
	}
}
