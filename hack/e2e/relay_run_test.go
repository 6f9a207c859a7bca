//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// chartRow is one line of the summary table printed at the end of the run.
type chartRow struct {
	stage  string
	result string // PASS, FAIL, SKIP or "not run"
	took   time.Duration
	detail string
}

// chartRun runs the stages of the chart e2e in order, times them, keeps the
// summary, and on the first failure prints what the cluster knows about it.
type chartRun struct {
	t       *testing.T
	start   time.Time
	rows    []chartRow
	numbers [][2]string // name, value: the measured numbers, in order
	// diagnose prints the pods, events and logs after a failure; set once the
	// namespace exists.
	diagnose func()
	// report is the HTML report; a run that ends before its report stage
	// writes what it has.
	report *chartReport
}

// newChartRun starts the clock and prints the summary when the test ends,
// whether it passed or not; stages never reached are listed as "not run".
func newChartRun(t *testing.T, planned []string) *chartRun {
	r := &chartRun{t: t, start: time.Now()}
	for _, s := range planned {
		r.rows = append(r.rows, chartRow{stage: s, result: "not run"})
	}
	t.Cleanup(r.printSummary)
	return r
}

// logf prints one progress line with the time since the run started.
func (r *chartRun) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("[%7.1fs] %s", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// stage runs fn as the named stage. fn returns the detail for the summary;
// it fails the test with t.Fatalf (itself or in a function it calls), which
// marks the stage FAIL, prints the diagnostics and stops the run.
func (r *chartRun) stage(name string, fn func() string) {
	r.t.Helper()
	i := slices.IndexFunc(r.rows, func(row chartRow) bool { return row.stage == name })
	if i < 0 {
		r.rows = append(r.rows, chartRow{stage: name})
		i = len(r.rows) - 1
	}
	r.logf("=== stage %q", name)
	begin := time.Now()
	finished := false
	defer func() {
		r.rows[i].took = time.Since(begin)
		if !finished || r.t.Failed() {
			r.rows[i].result = "FAIL"
			r.logf("--- stage %q FAILED after %s", name, r.rows[i].took.Round(100*time.Millisecond))
			if r.diagnose != nil {
				r.diagnose()
				r.diagnose = nil // once is enough
			}
		}
	}()
	detail := fn()
	finished = true
	if r.t.Failed() {
		return
	}
	r.rows[i].result, r.rows[i].detail = "PASS", detail
	r.logf("--- stage %q passed in %s: %s", name, time.Since(begin).Round(100*time.Millisecond), detail)
}

// skip marks the named stage as skipped, with the reason, without running it.
func (r *chartRun) skip(name, why string) {
	r.t.Helper()
	i := slices.IndexFunc(r.rows, func(row chartRow) bool { return row.stage == name })
	if i < 0 {
		r.rows = append(r.rows, chartRow{stage: name})
		i = len(r.rows) - 1
	}
	r.rows[i].result, r.rows[i].detail = "SKIP", why
	r.logf("--- stage %q skipped: %s", name, why)
}

// number records a measured value for the summary.
func (r *chartRun) number(name, format string, args ...any) {
	r.numbers = append(r.numbers, [2]string{name, fmt.Sprintf(format, args...)})
}

// summary renders the stage table and the numbers as Markdown.
func (r *chartRun) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| stage | result | time | detail |\n| --- | --- | ---: | --- |\n")
	for _, row := range r.rows {
		took := "-"
		if row.result != "not run" && row.result != "SKIP" {
			took = row.took.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.stage, row.result, took, row.detail)
	}
	fmt.Fprintf(&b, "| total | | %s | |\n", time.Since(r.start).Round(time.Second))
	if len(r.numbers) > 0 {
		b.WriteString("\n| measured | value |\n| --- | --- |\n")
		for _, n := range r.numbers {
			fmt.Fprintf(&b, "| %s | %s |\n", n[0], n[1])
		}
	}
	return b.String()
}

func (r *chartRun) printSummary() {
	s := r.summary()
	r.t.Logf("summary:\n%s", s)
	if path := os.Getenv("RESTAURANTS_E2E_SUMMARY"); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Errorf("writing the summary to %s: %v", path, err)
		} else if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			r.t.Errorf("writing the summary to %s: %v", path, err)
		} else {
			r.t.Logf("summary written to %s", path)
		}
	}
	if r.report != nil && !r.report.written {
		if err := r.report.write(r); err != nil {
			r.t.Errorf("%v", err)
		} else {
			r.t.Logf("report (of the stages that ran) written to %s", r.report.path)
		}
	}
}

// chartDiagnose prints the namespace's pods with their status, its events,
// and the logs of the relay, the stand-in and the load Jobs: what one needs
// to understand a failed stage. It uses a fresh context, since the test's
// own may be what ran out.
func chartDiagnose(t *testing.T, cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("diagnostics: listing pods in %s: %v", ns, err)
		return
	}
	fmt.Fprintf(&b, "pods in %s:\n", ns)
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "  %-45s %-10s ready=%-5v node=%s started=%s", p.Name, p.Status.Phase, podReady(p), p.Spec.NodeName, p.CreationTimestamp.Format(time.TimeOnly))
		if p.DeletionTimestamp != nil {
			b.WriteString(" (terminating)")
		}
		b.WriteString("\n")
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "      container %s: restarts=%d %s\n", c.Name, c.RestartCount, chartContainerState(c.State))
			if c.LastTerminationState.Terminated != nil {
				fmt.Fprintf(&b, "        last: %s\n", chartContainerState(c.LastTerminationState))
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				fmt.Fprintf(&b, "      condition %s=%s %s %s\n", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		items := events.Items
		slices.SortFunc(items, func(a, b corev1.Event) int { return chartEventTime(a).Compare(chartEventTime(b)) })
		if len(items) > 60 {
			items = items[len(items)-60:]
		}
		fmt.Fprintf(&b, "events in %s (last %d):\n", ns, len(items))
		for _, e := range items {
			fmt.Fprintf(&b, "  %s %-7s %-20s %s/%s: %s\n", chartEventTime(e).Format(time.TimeOnly), e.Type, e.Reason,
				e.InvolvedObject.Kind, e.InvolvedObject.Name, strings.TrimSpace(e.Message))
		}
	} else {
		fmt.Fprintf(&b, "events: %v\n", err)
	}
	t.Log("diagnostics:\n" + b.String())
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			var restarts int32
			for _, s := range p.Status.ContainerStatuses {
				if s.Name == c.Name {
					restarts = s.RestartCount
				}
			}
			t.Logf("logs of %s/%s (last 40 lines):\n%s", p.Name, c.Name, chartLogs(ctx, cs, ns, p.Name, c.Name, false, 40))
			if restarts > 0 {
				t.Logf("logs of %s/%s before its last restart:\n%s", p.Name, c.Name, chartLogs(ctx, cs, ns, p.Name, c.Name, true, 40))
			}
		}
	}
}

func chartContainerState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason + " " + s.Waiting.Message
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.Format(time.TimeOnly)
	case s.Terminated != nil:
		return fmt.Sprintf("terminated: %s exit %d %s", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
	}
	return "unknown"
}

func chartEventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// chartLogs returns the last lines of a container's log, or why it cannot.
func chartLogs(ctx context.Context, cs kubernetes.Interface, ns, pod, container string, previous bool, tail int64) string {
	opts := &corev1.PodLogOptions{Container: container, Previous: previous}
	if tail > 0 {
		opts.TailLines = ptr.To(tail)
	}
	raw, err := cs.CoreV1().Pods(ns).GetLogs(pod, opts).DoRaw(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	return string(raw)
}
