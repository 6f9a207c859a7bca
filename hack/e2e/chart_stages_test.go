//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// chartStages runs the load stages of TestChartOnKind that come twice
// (the HPA run and the rolling upgrade, without and with the shared
// tier) and the ones about one pod's capacity and the shared tier.
type chartStages struct {
	t    *testing.T
	r    *chartRun
	cfg  chartConfig
	cs   kubernetes.Interface
	ns   string
	helm chartHelm
	jobs *chartJobs
	rpt  *chartReport
}

// chartHPARun is what an HPA stage measured.
type chartHPARun struct {
	stats          chartJobStats
	before, most   int32
	firstRise      time.Duration
	requestsPerSec float64
}

// chartUpgradeRun is what a rolling upgrade stage measured: the upstream
// calls the stand-in answered between `helm upgrade` and the end of the
// rollout, against what one cache for the cluster would make in that
// time (keys x TTL periods, one more for a refresh in flight).
type chartUpgradeRun struct {
	pods         int
	rollout      time.Duration
	calls        int
	periods      int
	clusterBound int // keys x (periods + 1)
	replicaBound int // pods x keys x (periods + 1): one cache per pod
	newSharedHit float64
	newUpstream  float64
}

// chartValkey is the in-chart Valkey's Deployment and Service.
const chartValkey = chartRelease + "-valkey"

// chartValkeySelector selects the in-chart Valkey's pod.
const chartValkeySelector = "app.kubernetes.io/instance=" + chartRelease + ",app.kubernetes.io/component=shared-cache"

// chartLoadTail is how long a stage's load goes on after its event is over,
// so that the report shows the recovery.
const chartLoadTail = 8 * time.Second

// hpa loads the Service from a Job until the HPA has scaled the relay out
// and the new replicas have served for cfg.hpaTail (at most cfg.hpaLoad),
// and puts the run on the report.
func (s *chartStages) hpa(ctx context.Context, jobName, section, title string) (string, chartHPARun) {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	var before chartHPAState
	if err := chartPoll(ctx, 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := chartHPA(ctx, cs, ns, chartRelay)
		if err != nil {
			return false, err.Error(), nil
		}
		before = st
		return st.active && st.current > 0 && st.current == st.desired, "HPA not active and settled yet: " + st.String() + "; " + st.why, nil
	}); err != nil {
		t.Fatalf("the HPA never got its CPU metrics (metrics-server): %v", err)
	}
	r.logf("HPA before the load: %s", before)
	job := s.jobs.startRate(ctx, jobName, cfg.hpaLoad, cfg.rate)
	run := chartHPARun{before: before.current, most: before.current}
	last, stopped := "", false
	job.wait(ctx, func(ctx context.Context) {
		st, err := chartHPA(ctx, cs, ns, chartRelay)
		if err != nil {
			return
		}
		if s := st.String(); s != last {
			r.logf("HPA: %s", s)
			last = s
		}
		if st.current > run.most {
			run.most = st.current
			job.mark(fmt.Sprintf("HPA: %d replicas", st.current))
			if run.firstRise == 0 {
				run.firstRise = time.Since(job.started)
			}
		}
		if !stopped && run.firstRise > 0 && time.Since(job.started) >= run.firstRise+cfg.hpaTail {
			job.stop(ctx)
			stopped = true
		}
	})
	if run.most <= before.current {
		// The load is over; a scale-out decided at its very end still counts.
		_ = chartPoll(ctx, 5*time.Second, time.Minute, func(ctx context.Context) (bool, string, error) {
			st, err := chartHPA(ctx, cs, ns, chartRelay)
			if err != nil {
				return false, err.Error(), nil
			}
			run.most = max(run.most, st.current)
			return run.most > before.current, st.String(), nil
		})
	}
	rep := job.report(ctx)
	if run.most <= before.current {
		st, _ := chartHPA(ctx, cs, ns, chartRelay)
		t.Fatalf("the HPA did not scale the relay out under %s of load: %d replicas before, %d at most; now %s; %s",
			job.stats.elapsed.Round(time.Second), before.current, run.most, st, st.why)
	}
	run.stats, run.requestsPerSec = job.stats, rep.RequestsPerSecond
	st := job.stats
	s.rpt.add(section, title, rep, job.reportMarks(rep),
		fmt.Sprintf("%s of load from a Job (c=%d, through the Service), stopped %s after the HPA's first scale-out: replicas %d -> %d; %d upstream calls for %d keys with TTL %s, %.2f per key per TTL.",
			st.elapsed.Round(time.Second), cfg.conns, cfg.hpaTail, before.current, run.most, st.calls, len(chartKeys), cfg.ttl, st.perKeyTTL))
	r.number("in-cluster req/s ("+jobName+")", "%.0f (c=%d, %s, through the Service)", rep.RequestsPerSecond, cfg.conns, st.elapsed.Round(time.Second))
	r.number("in-cluster latency ("+jobName+")", "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", rep.Latency.P50, rep.Latency.P99, rep.Latency.P999)
	r.number("HPA replicas ("+jobName+")", "%d before -> %d (first rise after %s of load)", before.current, run.most, run.firstRise.Round(time.Second))
	return fmt.Sprintf("%.0f req/s, p99 %.2f ms, 0 errors; replicas %d -> %d after %s; %s, %.2f per key per TTL",
		rep.RequestsPerSecond, rep.Latency.P99, before.current, run.most, run.firstRise.Round(time.Second), job.upstreamLine, st.perKeyTTL), run
}

// upgrade runs `helm upgrade --reuse-values` with set (a new pod template)
// while a Job loads the Service, waits for the rollout, and counts the
// upstream calls the stand-in answered meanwhile. env=value must be in
// the new template.
func (s *chartStages) upgrade(ctx context.Context, jobName, section, title string, set []string, env, value string) (string, chartUpgradeRun) {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	oldPods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, false)
	if err != nil {
		t.Fatal(err)
	}
	job := s.jobs.startRate(ctx, jobName, cfg.upgradeLoad, cfg.rate)
	job.waitFlowing(ctx)
	callsBefore, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	job.mark("helm upgrade")
	args := []string{"upgrade", chartRelease, "./charts", "--reuse-values"}
	for _, kv := range set {
		args = append(args, "--set", kv)
	}
	out, err := s.helm.run(ctx, args...)
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	r.logf("helm %s:\n%s", strings.Join(args, " "), chartTail(out, 6))
	d, err := chartWaitRollout(ctx, cs, ns, chartRelay, cfg.upgradeLoad)
	if err != nil {
		t.Fatal(err)
	}
	rollout := time.Since(begin)
	callsAfter, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	job.mark("rollout done")
	r.logf("rollout done in %s: %d replicas on the new template", rollout.Round(100*time.Millisecond), d.Status.UpdatedReplicas)
	if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == env && e.Value == value }) {
		t.Fatalf("the upgraded pod template lacks %s=%s: %v", env, value, d.Spec.Template.Spec.Containers[0].Env)
	}
	// Every pod from before the upgrade must be gone or going.
	newPods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range newPods {
		if slices.ContainsFunc(oldPods, func(o corev1.Pod) bool { return o.Name == p.Name }) {
			t.Fatalf("pod %s from before the upgrade is still serving after the rollout", p.Name)
		}
	}
	job.mustStillRun(ctx, "the rollout")
	// what the new pods did: answers from the shared tier, upstream calls
	var up chartUpgradeRun
	for _, p := range newPods {
		if m, err := chartPodMetrics(ctx, cs, ns, p.Name, chartAdminPort); err == nil {
			up.newSharedHit += m.ByLabel(loadtest.MetricRequests, "cache")["shared_hit"]
			up.newUpstream += m.Sum(loadtest.MetricUpstreamRequests)
		}
	}
	job.stopAfter(ctx, chartLoadTail)
	rep := job.report(ctx)
	keys := len(chartKeys)
	up.pods, up.rollout, up.calls = len(oldPods), rollout, int(callsAfter-callsBefore)
	up.periods = int(math.Ceil(rollout.Seconds() / cfg.ttl.Seconds()))
	up.clusterBound = keys * (up.periods + 1)
	up.replicaBound = max(len(oldPods), len(newPods)) * up.clusterBound
	r.logf("during the rollout (%s, %d TTL periods): %d upstream calls; one cache for the cluster: <= %d, one per pod: <= %d; the new pods: %.0f answers from the shared tier, %.0f upstream calls",
		rollout.Round(100*time.Millisecond), up.periods, up.calls, up.clusterBound, up.replicaBound, up.newSharedHit, up.newUpstream)
	s.rpt.add(section, title, rep, job.reportMarks(rep),
		fmt.Sprintf("helm upgrade --reuse-values --set %s under load: %d pods replaced in %s; %d upstream calls during the rollout (%d keys x %d TTL periods: %d for one cache per cluster).",
			strings.Join(set, " --set "), len(oldPods), rollout.Round(100*time.Millisecond), up.calls, keys, up.periods, up.clusterBound))
	r.number("rolling upgrade ("+jobName+")", "%d pods replaced in %s under %.0f req/s, 0 failed of %d requests; %d upstream calls during the rollout (cluster bound %d, per-pod bound %d)",
		len(oldPods), rollout.Round(100*time.Millisecond), rep.RequestsPerSecond, rep.Requests, up.calls, up.clusterBound, up.replicaBound)
	return fmt.Sprintf("%d pods replaced in %s; %d requests, 0 failed, %.0f req/s, p99 %.2f ms; %d upstream calls during the rollout (%d keys x %d periods + 1 = %d); %s",
		len(oldPods), rollout.Round(100*time.Millisecond), rep.Requests, rep.RequestsPerSecond, rep.Latency.P99, up.calls, keys, up.periods, up.clusterBound, job.upstreamLine), up
}

// chartPodCPU is one reading of the metrics API for a pod: the cores its
// containers used over the window that ends at the timestamp.
type chartPodCPU struct {
	at     time.Time
	window time.Duration
	cores  float64
}

// podCPU asks the metrics API what `kubectl top pod` asks.
func podCPU(ctx context.Context, cs kubernetes.Interface, ns, pod string) (chartPodCPU, error) {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", ns, "pods", pod).DoRaw(ctx)
	if err != nil {
		return chartPodCPU{}, fmt.Errorf("metrics API for pod %s: %w", pod, err)
	}
	var m struct {
		Timestamp  time.Time `json:"timestamp"`
		Window     string    `json:"window"`
		Containers []struct {
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return chartPodCPU{}, fmt.Errorf("decoding pod metrics of %s: %w", pod, err)
	}
	w, err := time.ParseDuration(m.Window)
	if err != nil {
		return chartPodCPU{}, fmt.Errorf("pod metrics of %s: window %q: %w", pod, m.Window, err)
	}
	out := chartPodCPU{at: m.Timestamp, window: w}
	for _, c := range m.Containers {
		q, err := resource.ParseQuantity(c.Usage["cpu"])
		if err != nil {
			return chartPodCPU{}, fmt.Errorf("pod metrics of %s: cpu %q: %w", pod, c.Usage["cpu"], err)
		}
		out.cores += q.AsApproximateFloat64()
	}
	return out, nil
}

// capacity measures what one relay pod with the chart's default resources
// serves: the HPA pinned to one replica, a saturating load from a Job,
// the pod's CPU from the metrics API (and its own process CPU counter).
func (s *chartStages) capacity(ctx context.Context) string {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	if _, err := s.helm.run(ctx, "upgrade", chartRelease, "./charts", "--reuse-values",
		"--set", "autoscaling.minReplicas=1", "--set", "autoscaling.maxReplicas=1"); err != nil {
		t.Fatalf("helm upgrade to one replica: %v", err)
	}
	var pod corev1.Pod
	if err := chartPoll(ctx, time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		all, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, false)
		if err != nil {
			return false, err.Error(), nil
		}
		ready, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
		if err != nil {
			return false, err.Error(), nil
		}
		if len(all) == 1 && len(ready) == 1 {
			pod = ready[0]
			return true, "", nil
		}
		return false, fmt.Sprintf("%d relay pods, %d Ready: want exactly one", len(all), len(ready)), nil
	}); err != nil {
		t.Fatalf("the relay did not come down to one pod: %v", err)
	}
	limit := pod.Spec.Containers[0].Resources.Limits.Cpu()
	request := pod.Spec.Containers[0].Resources.Requests.Cpu()
	processCPU := func() float64 {
		m, err := chartPodMetrics(ctx, cs, ns, pod.Name, chartAdminPort)
		if err != nil {
			t.Fatal(err)
		}
		return m.Sum("process_cpu_seconds_total")
	}
	cpuBefore := processCPU()
	job := s.jobs.startConns(ctx, "loadtest-capacity", cfg.capacityLoad, cfg.capacityConns)
	var readings []chartPodCPU
	job.wait(ctx, func(ctx context.Context) {
		c, err := podCPU(ctx, cs, ns, pod.Name)
		if err != nil {
			r.logf("%v", err)
			return
		}
		if len(readings) == 0 || !c.at.Equal(readings[len(readings)-1].at) {
			readings = append(readings, c)
		}
	})
	cpuAfter := processCPU()
	rep := job.report(ctx)
	start, end := rep.Started, rep.Started.Add(time.Duration(rep.ElapsedSeconds*float64(time.Second)))
	var inside []chartPodCPU
	cpuSeries := loadtest.ProbeSeries{Name: "relay pod CPU (cores, metrics API)"}
	for _, c := range readings {
		if x := rep.At(c.at); x >= 0 && x <= rep.ElapsedSeconds+1 {
			cpuSeries.Samples = append(cpuSeries.Samples, loadtest.Sample{Seconds: x, Value: c.cores})
		}
		if !c.at.Add(-c.window).Before(start.Add(2*time.Second)) && !c.at.After(end) {
			inside = append(inside, c)
		}
	}
	// The process's own CPU counter, read before and after the run, is the
	// figure; the metrics API (what `kubectl top` and the HPA see) checks it
	// when one of its readings, whose windows are 10-30 s here, lies inside
	// the run.
	procCores := (cpuAfter - cpuBefore) / rep.ElapsedSeconds
	cores := procCores
	seen := fmt.Sprintf("the metrics API gave no reading inside the run (%d readings)", len(readings))
	if len(inside) > 0 {
		var api float64
		for _, c := range inside {
			api += c.cores
		}
		api /= float64(len(inside))
		seen = fmt.Sprintf("metrics API %.2f, %d readings inside the run", api, len(inside))
	}
	if cores <= 0 {
		t.Fatalf("the relay's CPU counter did not move during the run (%.3f -> %.3f s)", cpuBefore, cpuAfter)
	}
	perCPU := rep.RequestsPerSecond / cores
	rep.Probes = append(rep.Probes, cpuSeries)
	bound := "the machine's two cores (shared with the load generator and the cluster)"
	if cores >= 0.9*limit.AsApproximateFloat64() {
		bound = "the pod's CPU limit"
	}
	s.rpt.add("capacity", "capacity of one relay pod", rep, job.reportMarks(rep),
		fmt.Sprintf("One relay pod with the chart's default resources (CPU request %s, limit %s), the HPA pinned to it, under a closed loop of %d connections from a Job through the Service for %s: %.0f req/s at %.2f cores (the process's CPU counter; %s), %.0f req/s per CPU. Bound by %s.",
			request, limit, cfg.capacityConns, time.Duration(rep.ElapsedSeconds*float64(time.Second)).Round(time.Second), rep.RequestsPerSecond, cores, seen, perCPU, bound))
	r.number("capacity of one relay pod", "%.0f req/s at %.2f CPU (process counter; %s) of its %s limit: %.0f req/s per CPU, p99 %.2f ms (c=%d, bound by %s)",
		rep.RequestsPerSecond, cores, seen, limit, perCPU, rep.Latency.P99, cfg.capacityConns, bound)
	return fmt.Sprintf("1 pod (limit %s CPU): %.0f req/s at %.2f cores (process counter; %s) = %.0f req/s per CPU; p99 %.2f ms; 0 errors of %d",
		limit, rep.RequestsPerSecond, cores, seen, perCPU, rep.Latency.P99, rep.Requests)
}

// relayTier reads, from every Ready relay's metrics, whether its shared
// tier is up and how its lookups went.
type relayTier struct {
	up       float64
	lookups  map[string]float64 // by result: hit, stale, miss, error
	errors   float64
	requests float64 // requests answered
}

func (s *chartStages) relayTiers(ctx context.Context) (map[string]relayTier, error) {
	pods, err := chartRelayPods(ctx, s.cs, s.ns, chartRelaySelector, true)
	if err != nil {
		return nil, err
	}
	out := map[string]relayTier{}
	for _, p := range pods {
		m, err := chartPodMetrics(ctx, s.cs, s.ns, p.Name, chartAdminPort)
		if err != nil {
			return nil, err
		}
		if !m.Has("restaurants_shared_cache_up") {
			return nil, fmt.Errorf("relay %s exports no restaurants_shared_cache_up: it runs without the shared tier", p.Name)
		}
		out[p.Name] = relayTier{
			up:       m.Sum("restaurants_shared_cache_up"),
			lookups:  m.ByLabel("restaurants_shared_cache_lookups_total", "result"),
			errors:   m.Sum("restaurants_shared_cache_errors_total"),
			requests: m.Sum("restaurants_requests_total"),
		}
	}
	return out, nil
}

// tiersDown names a relay whose shared tier is not up, or is "" when every
// one's is.
func tiersDown(tiers map[string]relayTier) string {
	for pod, tier := range tiers {
		if tier.up != 1 {
			return fmt.Sprintf("relay %s: restaurants_shared_cache_up %v", pod, tier.up)
		}
	}
	return ""
}

// tierOn turns the in-chart Valkey on (and the HPA back to its range after
// the capacity stage), waits until every relay uses it, and checks that the
// tier is closed to others (tierGuarded).
func (s *chartStages) tierOn(ctx context.Context) string {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	repo, tag := chartSplitImage(cfg.valkeyImage)
	begin := time.Now()
	args := []string{"upgrade", chartRelease, "./charts", "--reuse-values",
		"--set", "valkey.enabled=true", "--set", "valkey.image.repository=" + repo, "--set", "valkey.image.tag=" + tag,
		"--set", "autoscaling.minReplicas=2", "--set", fmt.Sprintf("autoscaling.maxReplicas=%d", chartMaxReplicas)}
	out, err := s.helm.run(ctx, args...)
	if err != nil {
		t.Fatalf("helm upgrade with the shared tier: %v", err)
	}
	r.logf("helm %s:\n%s", strings.Join(args, " "), chartTail(out, 8))
	if _, err := chartWaitRollout(ctx, cs, ns, chartValkey, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	var tiers map[string]relayTier
	if err := chartPoll(ctx, 2*time.Second, 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		d, err := chartWaitRollout(ctx, cs, ns, chartRelay, 3*time.Minute)
		if err != nil {
			return false, "", err
		}
		if *d.Spec.Replicas < 2 {
			return false, fmt.Sprintf("%d relay replicas: the HPA has not raised them to 2 yet", *d.Spec.Replicas), nil
		}
		if tiers, err = s.relayTiers(ctx); err != nil {
			return false, err.Error(), nil
		}
		if down := tiersDown(tiers); down != "" {
			return false, down, nil
		}
		return len(tiers) >= 2, fmt.Sprintf("%d Ready relays", len(tiers)), nil
	}); err != nil {
		t.Fatalf("the relays did not come up on the shared tier: %v", err)
	}
	valkey, err := chartValkeyPod(ctx, cs, ns)
	if err != nil {
		t.Fatal(err)
	}
	on := fmt.Sprintf("Valkey (%s) Ready on %s, %d relays on the new template with restaurants_shared_cache_up 1, in %s",
		cfg.valkeyImage, valkey.Spec.NodeName, len(tiers), time.Since(begin).Round(100*time.Millisecond))
	return on + "; " + s.tierGuarded(ctx)
}

// chartValkeyPod is the in-chart Valkey's pod that is not being deleted.
func chartValkeyPod(ctx context.Context, cs kubernetes.Interface, ns string) (corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: chartValkeySelector})
	if err != nil {
		return corev1.Pod{}, fmt.Errorf("listing the Valkey pod: %w", err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return p, nil
		}
	}
	return corev1.Pod{}, fmt.Errorf("no Valkey pod (%d being deleted)", len(pods.Items))
}

// tierLoss deletes the Valkey pod under load: no request may fail (the
// relays fail open), and once a new Valkey is Ready every relay must use
// the tier again (restaurants_shared_cache_up 1 and lookups answered by
// the engine), with no restart of its own.
func (s *chartStages) tierLoss(ctx context.Context) string {
	t, r, cs, ns, cfg := s.t, s.r, s.cs, s.ns, s.cfg
	t.Helper()
	old, err := chartValkeyPod(ctx, cs, ns)
	if err != nil {
		t.Fatal(err)
	}
	job := s.jobs.start(ctx, "loadtest-tier-loss", cfg.tierLossLoad)
	job.waitFlowing(ctx)
	before, err := s.relayTiers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	callsBefore, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the Valkey pod %s: %v", old.Name, err)
	}
	job.mark("Valkey pod deleted")
	r.logf("deleted the Valkey pod %s (on %s) under load", old.Name, old.Spec.NodeName)
	var (
		noticed, back, up, hitting time.Duration
		atBack                     map[string]relayTier
		sawDown                    []string
	)
	err = chartPoll(ctx, time.Second, cfg.tierLossLoad, func(ctx context.Context) (bool, string, error) {
		now := time.Since(begin)
		tiers, err := s.relayTiers(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		if noticed == 0 {
			for pod, tier := range tiers {
				if tier.up == 0 || tier.errors > before[pod].errors {
					noticed = now
					sawDown = append(sawDown, pod)
				}
			}
			if noticed > 0 {
				r.logf("relays saw the engine fail after %s: %v", now.Round(100*time.Millisecond), sawDown)
			}
		}
		if back == 0 {
			p, err := chartValkeyPod(ctx, cs, ns)
			if err != nil || p.Name == old.Name || !podReady(p) {
				return false, "no new Ready Valkey pod yet", nil
			}
			back, atBack = now, tiers
			job.mark("Valkey Ready again")
			r.logf("new Valkey pod %s Ready on %s after %s", p.Name, p.Spec.NodeName, now.Round(100*time.Millisecond))
			return false, "Valkey back, waiting for the relays", nil
		}
		// every relay: the tier up again, and lookups the engine answered since it is back
		if down := tiersDown(tiers); down != "" {
			return false, down, nil
		}
		if up == 0 {
			up = now
			job.mark("tier up on every relay")
		}
		var hits float64
		serving := 0
		for pod, tier := range tiers {
			prev, ok := atBack[pod]
			if !ok {
				return false, "relay " + pod + " appeared after the engine came back", nil
			}
			// The load's kept-alive connections are spread over the pods when
			// the Job starts; a pod that none of them reached answers nothing,
			// and so has nothing to look up.
			if tier.requests <= prev.requests {
				continue
			}
			serving++
			answered := func(l map[string]float64) float64 { return l["hit"] + l["stale"] + l["miss"] }
			if answered(tier.lookups) <= answered(prev.lookups) {
				return false, fmt.Sprintf("relay %s: no lookup answered by the new engine yet (%v)", pod, tier.lookups), nil
			}
			hits += tier.lookups["hit"] - prev.lookups["hit"]
		}
		if serving == 0 {
			return false, "no relay answered a request since the engine came back", nil
		}
		if hits < 1 {
			return false, "no shared hit since the engine came back", nil
		}
		hitting = now
		job.mark("shared hits again")
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("the relays did not use the tier again after the loss of Valkey %s: %v", old.Name, err)
	}
	if noticed == 0 {
		t.Fatalf("no relay saw the engine go (restaurants_shared_cache_up stayed 1, no shared cache error counted): the stage did not test a loss")
	}
	callsDuring, err := chartStandInRequests(ctx, cs, ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	job.mustStillRun(ctx, "the tier's return")
	job.stopAfter(ctx, chartLoadTail)
	rep := job.report(ctx)
	r.logf("Valkey lost: relays saw it after %s; new Valkey Ready after %s; tier up on every relay after %s; shared hits again after %s; %d upstream calls meanwhile",
		noticed.Round(100*time.Millisecond), back.Round(100*time.Millisecond), up.Round(100*time.Millisecond), hitting.Round(100*time.Millisecond), callsDuring-callsBefore)
	s.rpt.add("tier-loss", "the shared tier's engine lost under load", rep, job.reportMarks(rep),
		fmt.Sprintf("The Valkey pod deleted under load: the relays failed open (0 failed of %d requests); a new Valkey was Ready after %s, every relay's tier up after %s and the relays hitting it again after %s, with no restart of their own.",
			rep.Requests, back.Round(100*time.Millisecond), up.Round(100*time.Millisecond), hitting.Round(100*time.Millisecond)))
	r.number("shared tier loss", "Valkey pod deleted under load: 0 failed of %d requests; new Valkey Ready after %s; restaurants_shared_cache_up 1 on every relay after %s; shared hits again after %s; %d upstream calls meanwhile",
		rep.Requests, back.Round(100*time.Millisecond), up.Round(100*time.Millisecond), hitting.Round(100*time.Millisecond), callsDuring-callsBefore)
	return fmt.Sprintf("Valkey %s deleted: 0 failed of %d requests (%.0f req/s); new one Ready after %s, tier up on all %d relays after %s, shared hits again after %s; %s",
		old.Name, rep.Requests, rep.RequestsPerSecond, back.Round(100*time.Millisecond), len(atBack), up.Round(100*time.Millisecond), hitting.Round(100*time.Millisecond), job.upstreamLine)
}
