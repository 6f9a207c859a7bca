//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/report"
)

// chartLoadControlPort is where the load tool of a Job serves its -control
// endpoints (GET /progress, POST /stop), reached through the API server's
// pod proxy: a stage ends its load once what it measures is over, and the
// Job's duration is only the most it may take.
const chartLoadControlPort = 8089

// The tracker's series, as the report names them.
const (
	seriesReady        = "ready relay pods"
	seriesStandInCalls = "upstream calls (stand-in)"
	seriesRelayCalls   = "upstream calls (relays' metrics)"
)

// chartJobs starts in-cluster load Jobs against the relay's Service.
type chartJobs struct {
	t       *testing.T
	r       *chartRun
	cs      kubernetes.Interface
	ns      string
	image   string
	conns   int
	ttl     time.Duration
	targets []string
}

// chartSample is what the tracker read at one moment of a load Job.
type chartSample struct {
	at      time.Time
	ready   int     // Ready relay pods
	standIn float64 // the stand-in's API requests since the Job was created
	relay   float64 // the relays' upstream calls since then (a pod that is gone keeps its last count)
}

// chartMark is an event of a stage (upgrade started, pod deleted), drawn on
// the report's time axes.
type chartMark struct {
	at    time.Time
	label string
}

// chartJob is one running load Job, with what the tracker saw while it
// ran: the relay pods, their upstream calls, the stand-in's count.
type chartJob struct {
	jobs         *chartJobs
	name         string
	d            time.Duration // the most the load may last
	started      time.Time
	standIn      uint64 // stand-in requests before the run
	allowErrors  bool   // report counts failed requests instead of failing on them
	upstreamLine string // set by report
	stats        chartJobStats

	mu           sync.Mutex
	podsSeen     map[string]bool
	podFirst     map[string]float64 // upstream calls of each pod when the tracker first saw it (0 for new pods)
	podLast      map[string]float64 // ... when it last read them
	samples      []chartSample
	marks        []chartMark
	stopTracking context.CancelFunc
	tracked      chan struct{}
}

// chartJobStats is what report measured of a Job's run.
type chartJobStats struct {
	elapsed     time.Duration
	calls       int     // upstream calls the stand-in answered during the run
	relayCalls  float64 // the same, counted by the relays
	replicas    int     // relay pods that existed during the run
	minReady    int     // fewest and most Ready relay pods the tracker saw
	maxReady    int
	avgReady    float64 // time-weighted mean of the Ready relay pods
	periods     float64 // elapsed / TTL
	perKeyTTL   float64 // calls / (keys x periods): upstream calls per key per TTL, all replicas
	relayPerKey float64 // the same from the relays' metrics
}

// start creates the Job and begins tracking the relay pods that exist
// while it runs (each new replica starts with an empty cache).
func (js *chartJobs) start(ctx context.Context, name string, d time.Duration) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, js.conns, false, 0)
}

// startRate is start in an open loop of rate requests per second.
func (js *chartJobs) startRate(ctx context.Context, name string, d time.Duration, rate float64) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, js.conns, false, rate)
}

// startConns is start with another number of connections.
func (js *chartJobs) startConns(ctx context.Context, name string, d time.Duration, conns int) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, conns, false, 0)
}

// startAllowingErrors is start for a run in which some requests may fail
// (the loss of a node): the load goes on whatever fails, and report
// counts the failures instead of failing the test on them.
func (js *chartJobs) startAllowingErrors(ctx context.Context, name string, d time.Duration) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, js.conns, true, 0)
}

func (js *chartJobs) startJob(ctx context.Context, name string, d time.Duration, conns int, allowErrors bool, rate float64) *chartJob {
	t := js.t
	t.Helper()
	standIn, err := chartStandInRequests(ctx, js.cs, js.ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	j := &chartJob{jobs: js, name: name, d: d, standIn: standIn, allowErrors: allowErrors,
		podsSeen: map[string]bool{}, podFirst: map[string]float64{}, podLast: map[string]float64{}, tracked: make(chan struct{})}
	// the relays' counters before the run: the baseline of the pods that exist now
	if pods, err := chartRelayPods(ctx, js.cs, js.ns, chartRelaySelector, false); err == nil {
		for pod, v := range chartRelayCounters(ctx, js.cs, js.ns, pods, chartAdminPort) {
			j.podFirst[pod], j.podLast[pod] = v[1], v[1]
		}
	}
	maxErrors := 0
	if allowErrors {
		maxErrors = -1
	}
	extra := []string{"-control", fmt.Sprintf(":%d", chartLoadControlPort)}
	if rate > 0 {
		extra = append(extra, "-rate", strconv.FormatFloat(rate, 'f', -1, 64))
	}
	args := chartLoadArgsMaxErrors(conns, d, maxErrors, js.targets, extra...)
	if _, err := js.cs.BatchV1().Jobs(js.ns).Create(ctx, chartLoadJob(name, js.image, d, args), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating job %s: %v", name, err)
	}
	js.r.logf("job %s: loadtest %s", name, strings.Join(args, " "))
	j.started = time.Now()
	trackCtx, cancel := context.WithCancel(ctx)
	j.stopTracking = cancel
	go j.track(trackCtx)
	t.Cleanup(func() { cancel(); <-j.tracked })
	return j
}

// track reads, every 2 seconds until stopped, the relay pods, their
// upstream-call counters (through the API server's pod proxy) and the
// stand-in's count.
func (j *chartJob) track(ctx context.Context) {
	defer close(j.tracked)
	js := j.jobs
	for {
		if pods, err := chartRelayPods(ctx, js.cs, js.ns, chartRelaySelector, false); err == nil {
			ready := 0
			var scrape []corev1.Pod
			for _, p := range pods {
				if p.Status.Phase == corev1.PodRunning && podReady(p) && p.DeletionTimestamp == nil {
					ready++
				}
				if p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
					scrape = append(scrape, p)
				}
			}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			counters := chartRelayCountersParallel(sctx, js.cs, js.ns, scrape, chartAdminPort)
			cancel()
			standIn, standErr := chartStandInRequests(ctx, js.cs, js.ns, chartStandIn)
			j.mu.Lock()
			for _, p := range pods {
				j.podsSeen[p.Name] = true
			}
			for pod, v := range counters {
				if _, ok := j.podFirst[pod]; !ok {
					j.podFirst[pod] = 0 // a new pod: every call it made is the run's
				}
				j.podLast[pod] = max(j.podLast[pod], v[1])
			}
			var relay float64
			for pod, last := range j.podLast {
				relay += last - j.podFirst[pod]
			}
			s := chartSample{at: time.Now(), ready: ready, relay: relay, standIn: math.NaN()}
			if standErr == nil {
				s.standIn = float64(standIn) - float64(j.standIn)
			}
			j.samples = append(j.samples, s)
			j.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// mark records an event of the stage, for the report.
func (j *chartJob) mark(label string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.marks = append(j.marks, chartMark{at: time.Now(), label: label})
}

// waitFlowing waits until the Job's pod runs and the relay replicas have
// answered a few hundred of its requests, read from their metrics.
func (j *chartJob) waitFlowing(ctx context.Context) {
	t := j.jobs.t
	t.Helper()
	js := j.jobs
	total := func(ctx context.Context) float64 {
		pods, err := chartRelayPods(ctx, js.cs, js.ns, chartRelaySelector, true)
		if err != nil {
			return -1
		}
		var sum float64
		for _, v := range chartRelayCounters(ctx, js.cs, js.ns, pods, chartAdminPort) {
			sum += v[0]
		}
		return sum
	}
	base := total(ctx)
	err := chartPoll(ctx, time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		pod, err := chartJobPod(ctx, js.cs, js.ns, j.name)
		if err != nil || pod == nil {
			return false, fmt.Sprintf("job %s has no pod yet (%v)", j.name, err), nil
		}
		if pod.Status.Phase != corev1.PodRunning {
			return false, fmt.Sprintf("job pod %s is %s", pod.Name, pod.Status.Phase), nil
		}
		now := total(ctx)
		return now >= base+500, fmt.Sprintf("relay requests %.0f -> %.0f", base, now), nil
	})
	if err != nil {
		t.Fatalf("the load of job %s never reached the relay: %v", j.name, err)
	}
	js.r.logf("job %s: load flowing after %s", j.name, time.Since(j.started).Round(100*time.Millisecond))
}

// mustStillRun fails unless the Job is still loading the relay, so that
// the stage's event happened entirely under load.
func (j *chartJob) mustStillRun(ctx context.Context, what string) {
	t := j.jobs.t
	t.Helper()
	job, err := j.jobs.cs.BatchV1().Jobs(j.jobs.ns).Get(ctx, j.name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting job %s: %v", j.name, err)
	}
	if done, _, why := chartJobFinished(job); done {
		t.Fatalf("job %s finished (%s) before %s did: the load did not cover it; raise its duration (%s)", j.name, why, what, j.d)
	}
}

// stop ends the Job's load now, through its load tool's POST /stop: the
// report covers what was done. A Job that cannot be reached runs on to
// its duration, which is only slower.
func (j *chartJob) stop(ctx context.Context) {
	js := j.jobs
	pod, err := chartJobPod(ctx, js.cs, js.ns, j.name)
	if err == nil && pod != nil {
		_, err = js.cs.CoreV1().RESTClient().Post().Namespace(js.ns).Resource("pods").
			Name(fmt.Sprintf("%s:%d", pod.Name, chartLoadControlPort)).SubResource("proxy").Suffix("stop").DoRaw(ctx)
	}
	if err != nil {
		js.r.logf("job %s: could not stop the load early (it runs its %s): %v", j.name, j.d, err)
		return
	}
	js.r.logf("job %s: load stopped after %s", j.name, time.Since(j.started).Round(100*time.Millisecond))
}

// stopAfter lets the load run for tail more (the report shows the
// recovery), then stops it.
func (j *chartJob) stopAfter(ctx context.Context, tail time.Duration) {
	select {
	case <-time.After(tail):
	case <-ctx.Done():
		return
	}
	j.stop(ctx)
}

// wait polls the Job every 3 seconds until it finishes, calling tick each time.
func (j *chartJob) wait(ctx context.Context, tick func(context.Context)) {
	t := j.jobs.t
	t.Helper()
	js := j.jobs
	err := chartPoll(ctx, 3*time.Second, j.d+3*time.Minute, func(ctx context.Context) (bool, string, error) {
		if tick != nil {
			tick(ctx)
		}
		job, err := js.cs.BatchV1().Jobs(js.ns).Get(ctx, j.name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		done, _, why := chartJobFinished(job)
		return done, "job " + j.name + ": " + why, nil
	})
	if err != nil {
		t.Fatalf("job %s did not finish: %v", j.name, err)
	}
}

// report waits for the Job, reads the load tool's JSON report from its
// pod's log, and fails the test on any failed request, on a failed Job, or
// when the stand-in saw more upstream calls than the TTL allows for the
// replicas that existed meanwhile. The report it returns carries the
// tracker's series as probes (ready relay pods, upstream calls counted by
// the stand-in and by the relays), on the run's time axis.
func (j *chartJob) report(ctx context.Context) *loadtest.Report {
	t := j.jobs.t
	t.Helper()
	js := j.jobs
	j.wait(ctx, nil)
	job, err := js.cs.BatchV1().Jobs(js.ns).Get(ctx, j.name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting job %s: %v", j.name, err)
	}
	_, ok, why := chartJobFinished(job)
	pod, err := chartJobPod(ctx, js.cs, js.ns, j.name)
	if err != nil || pod == nil {
		t.Fatalf("job %s (%s): its pod is gone: %v", j.name, why, err)
	}
	out := chartLogs(ctx, js.cs, js.ns, pod.Name, "loadtest", false, 0)
	rep, err := chartParseReport(out)
	if err != nil {
		t.Fatalf("job %s (%s): %v", j.name, why, err)
	}
	js.r.logf("job %s: %s", j.name, chartReportLine(rep))
	if fails := chartFailures(rep); (fails > 0 && !j.allowErrors) || !ok {
		t.Fatalf("job %s (%s): %d failed requests: %s %v\n%s", j.name, why, fails, chartReportLine(rep), rep.ErrorKinds, chartTail(out, 5))
	}
	after, err := chartStandInRequests(ctx, js.cs, js.ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	// one last read of the relays, then the tracker stops
	time.Sleep(100 * time.Millisecond)
	j.stopTracking()
	<-j.tracked
	if pods, err := chartRelayPods(ctx, js.cs, js.ns, chartRelaySelector, false); err == nil {
		j.mu.Lock()
		for pod, v := range chartRelayCounters(ctx, js.cs, js.ns, pods, chartAdminPort) {
			if _, seen := j.podFirst[pod]; !seen {
				j.podFirst[pod] = 0
			}
			j.podLast[pod] = max(j.podLast[pod], v[1])
			j.podsSeen[pod] = true
		}
		j.mu.Unlock()
	}
	j.stats = j.measure(rep, int(after-j.standIn))
	st := j.stats
	bound := chartUpstreamBound(st.replicas, len(chartKeys), st.elapsed, js.ttl)
	j.upstreamLine = fmt.Sprintf("%d upstream calls (<= %d for %d replicas)", st.calls, bound, st.replicas)
	js.r.logf("job %s: the stand-in answered %s; the relays counted %.0f; %.2f calls per key per TTL (%.1f periods), ready replicas %d..%d (%.1f on average)",
		j.name, j.upstreamLine, st.relayCalls, st.perKeyTTL, st.periods, st.minReady, st.maxReady, st.avgReady)
	js.r.number("upstream calls ("+j.name+")", "%d in %s with %d relay replicas seen (bound %d); relays' metrics %.0f; %.2f per key per TTL",
		st.calls, st.elapsed.Round(100*time.Millisecond), st.replicas, bound, st.relayCalls, st.perKeyTTL)
	if st.calls > bound {
		t.Fatalf("job %s: %d upstream calls in %s for %d keys over %d replicas: more than the TTL allows (%d)", j.name, st.calls, st.elapsed, len(chartKeys), st.replicas, bound)
	}
	j.addProbes(rep)
	return rep
}

// measure sums up the run from the report and the tracker's reads.
func (j *chartJob) measure(rep *loadtest.Report, calls int) chartJobStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := chartJobStats{
		elapsed:  time.Duration(rep.ElapsedSeconds * float64(time.Second)),
		calls:    calls,
		replicas: len(j.podsSeen),
	}
	for pod, last := range j.podLast {
		st.relayCalls += last - j.podFirst[pod]
	}
	st.periods = st.elapsed.Seconds() / j.jobs.ttl.Seconds()
	if st.periods > 0 {
		keys := float64(len(chartKeys))
		st.perKeyTTL = float64(calls) / (keys * st.periods)
		st.relayPerKey = st.relayCalls / (keys * st.periods)
	}
	// Ready pods over the run, weighted by time between samples.
	end := rep.Started.Add(st.elapsed)
	var weighted, span float64
	st.minReady = math.MaxInt
	for i, s := range j.samples {
		if s.at.Before(rep.Started) || s.at.After(end) {
			continue
		}
		st.minReady, st.maxReady = min(st.minReady, s.ready), max(st.maxReady, s.ready)
		next := end
		if i+1 < len(j.samples) && j.samples[i+1].at.Before(end) {
			next = j.samples[i+1].at
		}
		dt := next.Sub(s.at).Seconds()
		weighted += float64(s.ready) * dt
		span += dt
	}
	if span > 0 {
		st.avgReady = weighted / span
	}
	if st.minReady == math.MaxInt {
		st.minReady = 0
	}
	return st
}

// addProbes puts the tracker's series on the report's time axis.
func (j *chartJob) addProbes(rep *loadtest.Report) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ready := loadtest.ProbeSeries{Name: seriesReady}
	standIn := loadtest.ProbeSeries{Name: seriesStandInCalls, Counter: true}
	relay := loadtest.ProbeSeries{Name: seriesRelayCalls, Counter: true}
	limit := rep.ElapsedSeconds + 1
	for _, s := range j.samples {
		x := rep.At(s.at)
		if x < 0 || x > limit {
			continue
		}
		ready.Samples = append(ready.Samples, loadtest.Sample{Seconds: x, Value: float64(s.ready)})
		relay.Samples = append(relay.Samples, loadtest.Sample{Seconds: x, Value: s.relay})
		if !math.IsNaN(s.standIn) {
			standIn.Samples = append(standIn.Samples, loadtest.Sample{Seconds: x, Value: s.standIn})
		}
	}
	rep.Probes = append(rep.Probes, ready, standIn, relay)
}

// reportMarks are the Job's events on the report's time axis (those
// within the run).
func (j *chartJob) reportMarks(rep *loadtest.Report) []report.Mark {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []report.Mark
	for _, m := range j.marks {
		if x := rep.At(m.at); x >= 0 && x <= rep.ElapsedSeconds {
			out = append(out, report.Mark{X: x, Label: m.label})
		}
	}
	return out
}

// chartRelayCountersParallel is chartRelayCounters with the pods read at
// once, so that one that does not answer (on a lost node) costs the
// tracker one timeout, not one per pod.
func chartRelayCountersParallel(ctx context.Context, cs kubernetes.Interface, ns string, pods []corev1.Pod, adminPort int) map[string][2]float64 {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string][2]float64{}
	)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := chartPodMetrics(ctx, cs, ns, p.Name, adminPort)
			if err != nil {
				return
			}
			mu.Lock()
			out[p.Name] = [2]float64{m.Sum(loadtest.MetricRequests), m.Sum(loadtest.MetricUpstreamRequests)}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
