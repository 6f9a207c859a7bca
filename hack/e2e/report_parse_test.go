//go:build e2e

package e2e

import "testing"

func TestChartParseReportSkipsTheToolsMessages(t *testing.T) {
	// A failed run as a pod's log can show it: the tool's message on stderr
	// landed in the middle of the report on stdout.
	out := "{\n  \"requests\": 100,\n" +
		"loadtest: 3 errors (transport 1, 5xx 0, missed 2) exceed -max-errors 0\n" +
		"  \"transport_errors\": 1,\n  \"missed\": 2\n}\n"
	rep, err := chartParseReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 100 || rep.TransportErrors != 1 || rep.Missed != 2 {
		t.Fatalf("report %+v, want 100 requests, 1 transport error, 2 missed", rep)
	}
}
