//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// chartConfig is the e2e's configuration: every value has a default and an
// environment variable beside it.
type chartConfig struct {
	namespace   string        // RESTAURANTS_E2E_NAMESPACE
	image       string        // RESTAURANTS_E2E_IMAGE: the relay image, built and loaded
	curlImage   string        // RESTAURANTS_E2E_CURL_IMAGE: the helm test image, built and loaded
	build       bool          // RESTAURANTS_E2E_BUILD=0 uses the images as they are
	conns       int           // connections of every load run
	ttl         time.Duration // the relay's cache TTL, set through the chart
	forwardLoad time.Duration // RESTAURANTS_E2E_FORWARD_LOAD: load through the port-forward
	hpaLoad     time.Duration // RESTAURANTS_E2E_HPA_LOAD: in-cluster load that must scale the relay out
	upgradeLoad time.Duration // RESTAURANTS_E2E_UPGRADE_LOAD: in-cluster load during helm upgrade
	podLossLoad time.Duration // RESTAURANTS_E2E_POD_LOSS_LOAD: in-cluster load while a pod is deleted
	drainLoad   time.Duration // RESTAURANTS_E2E_DRAIN_LOAD: in-cluster load while a worker is drained
	nodeLoss    time.Duration // RESTAURANTS_E2E_NODE_LOSS_LOAD: in-cluster load while a worker is lost
	extraSet    []string      // RESTAURANTS_E2E_SET: more --set values for helm install, comma-separated
}

// The release, as the README installs it, and the objects it creates.
const (
	chartRelease   = "restaurants"
	chartRelay     = "restaurants"          // Deployment, Service and HPA of the relay
	chartStandIn   = "restaurants-menu-api" // Deployment and Service of the stand-in upstream
	chartHTTPPort  = 8000
	chartAdminPort = 9090
	// chartMaxReplicas caps the HPA: the kind nodes share the machine's
	// cores, and more replicas only divide them further.
	chartMaxReplicas = 6
	// chartDrainReplicas is the floor set for the drain and the node loss:
	// two relay pods on each of two workers, so that a drain must meet the
	// disruption budget's refusal.
	chartDrainReplicas = 4
	chartRelaySelector = "app.kubernetes.io/instance=" + chartRelease + ",app.kubernetes.io/component=relay"
)

// chartKeys are the paths every load run asks for: the list and two menus.
var chartKeys = []string{"/restaurant", "/restaurant/dufva", "/restaurant/jorpes"}

func chartConfigFromEnv(t *testing.T) chartConfig {
	t.Helper()
	str := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration such as 90s", name, v)
		}
		return d
	}
	return chartConfig{
		namespace:   str("RESTAURANTS_E2E_NAMESPACE", "restaurants-e2e"),
		image:       str("RESTAURANTS_E2E_IMAGE", "restaurants:dev"),
		curlImage:   str("RESTAURANTS_E2E_CURL_IMAGE", "restaurants-curl:dev"),
		build:       os.Getenv("RESTAURANTS_E2E_BUILD") != "0",
		conns:       20,
		ttl:         10 * time.Second,
		forwardLoad: dur("RESTAURANTS_E2E_FORWARD_LOAD", 20*time.Second),
		hpaLoad:     dur("RESTAURANTS_E2E_HPA_LOAD", 120*time.Second),
		upgradeLoad: dur("RESTAURANTS_E2E_UPGRADE_LOAD", 150*time.Second),
		podLossLoad: dur("RESTAURANTS_E2E_POD_LOSS_LOAD", 50*time.Second),
		drainLoad:   dur("RESTAURANTS_E2E_DRAIN_LOAD", 150*time.Second),
		nodeLoss:    dur("RESTAURANTS_E2E_NODE_LOSS_LOAD", 150*time.Second),
		extraSet:    strings.FieldsFunc(os.Getenv("RESTAURANTS_E2E_SET"), func(r rune) bool { return r == ',' }),
	}
}

// chartSplitImage splits "repo[:tag]" into the chart's image.repository and image.tag.
func chartSplitImage(ref string) (repo, tag string) {
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

// chartUpstreamBound is the most upstream calls the relay may make for the
// keys in a run of duration d: per replica and key, one call per TTL period
// the run touches (an entry is refreshed once after it expires, never
// sooner), plus one for an entry that expired just before the run or a
// refresh still in flight when it ends.
func chartUpstreamBound(replicas, keys int, d, ttl time.Duration) int {
	periods := int((d + ttl - 1) / ttl)
	return replicas * keys * (periods + 1)
}

// TestChartOnKind installs the chart on the kind cluster (make kind-up) and
// puts it through what production does to it: helm test, load through a
// port-forward and in the cluster, HPA scale-out, a rolling upgrade, the
// loss of a pod and the drain of a worker under load, each with zero failed
// requests; the loss of a worker under load, measured; and the chart's
// NetworkPolicy, enforced. The stages that need two workers are skipped on
// a single-node cluster (KIND_WORKERS=0).
func TestChartOnKind(t *testing.T) {
	cfg := chartConfigFromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	r := newChartRun(t, []string{
		"cluster", "images", "helm install", "spread over workers", "helm test", "in-cluster load + HPA",
		"port-forward load", "rolling upgrade under load", "pod loss under load",
		"drain under load", "node loss under load", "NetworkPolicy enforced",
	})
	root := chartRepoRoot(t)
	work := t.TempDir()
	ns := cfg.namespace
	keys := len(chartKeys)

	var (
		c       testCluster
		cs      kubernetes.Interface
		helm    chartHelm
		workers []corev1.Node
	)
	r.stage("cluster", func() string {
		c = connect(t)
		rc := *c.config
		rc.QPS, rc.Burst = 50, 100 // the stages poll several objects each second
		c.config = &rc
		var err error
		if cs, err = kubernetes.NewForConfig(&rc); err != nil {
			t.Fatalf("client for %s: %v", c.name, err)
		}
		c.cs = cs
		eventually(ctx, t, time.Minute, func(ctx context.Context) error { return nodesReady(ctx, cs) })
		eventually(ctx, t, 3*time.Minute, func(ctx context.Context) error { return nodeMetricsPresent(ctx, cs) })
		kc, err := os.CreateTemp(work, "kubeconfig-*")
		if err != nil {
			t.Fatal(err)
		}
		if err := chartWriteKubeconfig(c.name, kc.Name()); err != nil {
			t.Fatalf("kubeconfig for helm: %v", err)
		}
		kc.Close()
		helm = chartHelm{root: root, kubeconfig: kc.Name(), namespace: ns}
		all, w, err := clusterNodes(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		workers = w
		return fmt.Sprintf("kind cluster %q: %d nodes Ready (%d workers), metrics API answering for each", c.name, len(all), len(workers))
	})
	r.diagnose = func() { chartDiagnose(t, cs, ns) }

	var loadBin string
	r.stage("images", func() string {
		var built []string
		if cfg.build {
			for _, img := range [][2]string{{"hack/image.sh", cfg.image}, {"hack/curl-image.sh", cfg.curlImage}} {
				begin := time.Now()
				last := chartBuildImage(ctx, t, root, img[0], img[1])
				r.logf("%s: %s (%s)", img[0], strings.TrimSpace(last), time.Since(begin).Round(100*time.Millisecond))
				built = append(built, img[1])
			}
		}
		for _, img := range []string{cfg.image, cfg.curlImage} {
			begin := time.Now()
			loadImage(t, c.name, img)
			r.logf("kind load docker-image %s: %s", img, time.Since(begin).Round(100*time.Millisecond))
		}
		var err error
		if loadBin, err = chartBuildLoadtest(ctx, root, work); err != nil {
			t.Fatal(err)
		}
		if len(built) == 0 {
			return fmt.Sprintf("%s and %s loaded as they were (RESTAURANTS_E2E_BUILD=0)", cfg.image, cfg.curlImage)
		}
		return fmt.Sprintf("%s and %s built and loaded with kind load", cfg.image, cfg.curlImage)
	})

	repo, tag := chartSplitImage(cfg.image)
	curlRepo, curlTag := chartSplitImage(cfg.curlImage)
	r.stage("helm install", func() string {
		if err := chartDeleteNamespace(ctx, cs, ns, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		values := [][2]string{
			{"image.repository", repo}, {"image.tag", tag},
			{"menuApi.enabled", "true"},
			{"test.image.repository", curlRepo}, {"test.image.tag", curlTag},
			{"relay.cacheTTL", cfg.ttl.String()},
			{"autoscaling.maxReplicas", fmt.Sprint(chartMaxReplicas)},
		}
		for _, kv := range cfg.extraSet {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("RESTAURANTS_E2E_SET: %q is not key=value", kv)
			}
			values = append(values, [2]string{k, v})
		}
		args := append([]string{"install", chartRelease, "./charts", "--create-namespace"}, chartSetArgs(values)...)
		out, err := helm.run(ctx, args...)
		if err != nil {
			t.Fatalf("helm install: %v", err)
		}
		r.logf("helm %s:\n%s", strings.Join(args, " "), chartTail(out, 8))
		begin := time.Now()
		for _, name := range []string{chartStandIn, chartRelay} {
			if _, err := chartWaitRollout(ctx, cs, ns, name, 4*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		pods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("rolled out in %s: %d relay pods Ready, stand-in Ready", time.Since(begin).Round(100*time.Millisecond), len(pods))
	})

	nodes := chartNodes{t: t, r: r, cs: cs, ns: ns, cluster: c.name, helm: helm}
	multiNode := len(workers) >= 2
	const needWorkers = "needs two workers (KIND_WORKERS >= 2)"
	if multiNode {
		r.stage("spread over workers", func() string {
			return "Ready relay pods per node: " + nodes.checkSpread(ctx, workers)
		})
	} else {
		r.skip("spread over workers", needWorkers)
	}

	r.stage("helm test", func() string {
		out, err := helm.run(ctx, "test", chartRelease, "--logs", "--timeout", "3m")
		r.logf("helm test %s:\n%s", chartRelease, chartTail(out, 40))
		if err != nil {
			t.Fatalf("helm test: %v", err)
		}
		line := "in-cluster curl through the Service passed"
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "PASS: ") {
				line = "in-cluster curl through the Service: " + strings.TrimPrefix(l, "PASS: ")
			}
		}
		return line
	})

	serviceTargets := func() []string {
		var ts []string
		for _, k := range chartKeys {
			ts = append(ts, fmt.Sprintf("http://%s.%s.svc.cluster.local:%d%s", chartRelay, ns, chartHTTPPort, k))
		}
		return ts
	}()
	jobs := chartJobs{t: t, r: r, cs: cs, ns: ns, image: cfg.image, conns: cfg.conns, ttl: cfg.ttl, targets: serviceTargets}
	nodes.jobs = &jobs

	r.stage("in-cluster load + HPA", func() string {
		var before chartHPAState
		if err := chartPoll(ctx, 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, string, error) {
			st, err := chartHPA(ctx, cs, ns, chartRelay)
			if err != nil {
				return false, err.Error(), nil
			}
			before = st
			return st.active && st.current > 0, "HPA not active yet: " + st.why, nil
		}); err != nil {
			t.Fatalf("the HPA never got its CPU metrics (metrics-server): %v", err)
		}
		r.logf("HPA before the load: %s", before)
		job := jobs.start(ctx, "loadtest-hpa", cfg.hpaLoad)
		maxCurrent, firstRise := before.current, time.Duration(0)
		last := ""
		job.wait(ctx, func(ctx context.Context) {
			st, err := chartHPA(ctx, cs, ns, chartRelay)
			if err != nil {
				return
			}
			if s := st.String(); s != last {
				r.logf("HPA: %s", s)
				last = s
			}
			if st.current > maxCurrent {
				maxCurrent = st.current
				if firstRise == 0 {
					firstRise = time.Since(job.started)
				}
			}
		})
		if maxCurrent <= before.current {
			// The load is over; a scale-out decided at its very end still counts.
			_ = chartPoll(ctx, 5*time.Second, time.Minute, func(ctx context.Context) (bool, string, error) {
				st, err := chartHPA(ctx, cs, ns, chartRelay)
				if err != nil {
					return false, err.Error(), nil
				}
				maxCurrent = max(maxCurrent, st.current)
				return maxCurrent > before.current, st.String(), nil
			})
		}
		rep := job.report(ctx)
		if maxCurrent <= before.current {
			st, _ := chartHPA(ctx, cs, ns, chartRelay)
			t.Fatalf("the HPA did not scale the relay out under %s of load: %d replicas before, %d at most; now %s; %s",
				cfg.hpaLoad, before.current, maxCurrent, st, st.why)
		}
		r.number("in-cluster req/s (HPA stage)", "%.0f (c=%d, %s, through the Service)", rep.RequestsPerSecond, cfg.conns, cfg.hpaLoad)
		r.number("in-cluster latency (HPA stage)", "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", rep.Latency.P50, rep.Latency.P99, rep.Latency.P999)
		r.number("HPA replicas", "%d before -> %d (first rise after %s of load)", before.current, maxCurrent, firstRise.Round(time.Second))
		return fmt.Sprintf("%.0f req/s, p99 %.2f ms, 0 errors; replicas %d -> %d after %s; %s",
			rep.RequestsPerSecond, rep.Latency.P99, before.current, maxCurrent, firstRise.Round(time.Second), job.upstreamLine)
	})

	r.stage("port-forward load", func() string {
		pods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
		if err != nil || len(pods) == 0 {
			t.Fatalf("no Ready relay pod to forward to: %v", err)
		}
		pod := pods[0].Name
		fwd, err := chartPortForward(ctx, c.config, cs, ns, pod, chartHTTPPort, chartAdminPort)
		if err != nil {
			t.Fatal(err)
		}
		r.logf("port-forward 127.0.0.1:%d -> %s:%d, 127.0.0.1:%d -> %s:%d",
			fwd.local[chartHTTPPort], pod, chartHTTPPort, fwd.local[chartAdminPort], pod, chartAdminPort)
		var targets []string
		for _, k := range chartKeys {
			targets = append(targets, fwd.url(chartHTTPPort, k))
		}
		args := chartLoadArgs(cfg.conns, cfg.forwardLoad, targets, "-metrics", fwd.url(chartAdminPort, "/metrics"))
		runCtx, cancelRun := context.WithTimeout(ctx, cfg.forwardLoad+time.Minute)
		out, runErr := chartExec(runCtx, root, nil, loadBin, args...)
		cancelRun()
		fwdErr := fwd.close()
		rep, err := chartParseReport(out)
		if err != nil {
			t.Fatalf("%v (load tool: %v)", err, runErr)
		}
		if len(rep.ErrorKinds) > 0 || runErr != nil {
			r.logf("load tool output:\n%s", chartTail(out, 12))
		}
		r.logf("loadtest %s\n  %s", strings.Join(args, " "), chartReportLine(rep))
		if fwdErr != nil {
			t.Fatalf("%v: %d requests failed: %s %v", fwdErr, chartFailures(rep), chartReportLine(rep), rep.ErrorKinds)
		}
		if fails := chartFailures(rep); fails > 0 || runErr != nil {
			t.Fatalf("%d failed requests through the port-forward (load tool exit: %v): %s %v", fails, chartExitStatus(runErr), chartReportLine(rep), rep.ErrorKinds)
		}
		m := rep.Metrics
		if m == nil {
			t.Fatal("the load tool reported no relay metrics")
		}
		if len(m.Warnings) > 0 {
			t.Fatalf("the relay's metrics cannot be trusted: %v", m.Warnings)
		}
		bound := chartUpstreamBound(1, keys, cfg.forwardLoad, cfg.ttl)
		r.logf("relay %s: %0.f requests counted, hit ratio %.4f, upstream calls %.0f %v (bound %d), coalesced %.0f, stale %.0f",
			pod, m.Requests, m.HitRatio, m.UpstreamCalls, m.UpstreamByOutcome, bound, m.CoalescedWaits, m.StaleServed)
		if m.UpstreamCalls > float64(bound) {
			t.Fatalf("%.0f upstream calls in %s for %d keys with TTL %s: more than %d", m.UpstreamCalls, cfg.forwardLoad, keys, cfg.ttl, bound)
		}
		if m.UpstreamCalls < 1 {
			t.Fatalf("no upstream call in %s although every entry expires within the TTL %s: are the metrics those of the loaded pod?", cfg.forwardLoad, cfg.ttl)
		}
		if m.Requests < float64(rep.Responses) {
			t.Fatalf("the relay counted %.0f requests, the load tool got %d answers: the metrics are not the loaded pod's", m.Requests, rep.Responses)
		}
		r.number("port-forward req/s", "%.0f (c=%d, %s, 1 pod)", rep.RequestsPerSecond, cfg.conns, cfg.forwardLoad)
		r.number("port-forward latency", "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", rep.Latency.P50, rep.Latency.P99, rep.Latency.P999)
		r.number("port-forward upstream calls", "%.0f for %d keys, TTL %s (bound %d)", m.UpstreamCalls, keys, cfg.ttl, bound)
		return fmt.Sprintf("%.0f req/s, p99 %.2f ms, 0 errors, %.0f upstream calls (<= %d)", rep.RequestsPerSecond, rep.Latency.P99, m.UpstreamCalls, bound)
	})

	r.stage("rolling upgrade under load", func() string {
		oldPods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, false)
		if err != nil {
			t.Fatal(err)
		}
		job := jobs.start(ctx, "loadtest-upgrade", cfg.upgradeLoad)
		job.waitFlowing(ctx)
		begin := time.Now()
		out, err := helm.run(ctx, "upgrade", chartRelease, "./charts", "--reuse-values", "--set", "relay.logLevel=warn")
		if err != nil {
			t.Fatalf("helm upgrade: %v", err)
		}
		r.logf("helm upgrade %s ./charts --reuse-values --set relay.logLevel=warn:\n%s", chartRelease, chartTail(out, 6))
		d, err := chartWaitRollout(ctx, cs, ns, chartRelay, cfg.upgradeLoad)
		if err != nil {
			t.Fatal(err)
		}
		rollout := time.Since(begin)
		r.logf("rollout done in %s: %d replicas on the new template", rollout.Round(100*time.Millisecond), d.Status.UpdatedReplicas)
		if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
			return e.Name == "RESTAURANTS_LOG_LEVEL" && e.Value == "warn"
		}) {
			t.Fatalf("the upgraded pod template lacks RESTAURANTS_LOG_LEVEL=warn: %v", d.Spec.Template.Spec.Containers[0].Env)
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
		rep := job.report(ctx)
		r.number("rolling upgrade", "%d pods replaced in %s under %.0f req/s, 0 failed of %d requests", len(oldPods), rollout.Round(100*time.Millisecond), rep.RequestsPerSecond, rep.Requests)
		return fmt.Sprintf("%d pods replaced in %s; %d requests, 0 failed, %.0f req/s, p99 %.2f ms; %s",
			len(oldPods), rollout.Round(100*time.Millisecond), rep.Requests, rep.RequestsPerSecond, rep.Latency.P99, job.upstreamLine)
	})

	r.stage("pod loss under load", func() string {
		job := jobs.start(ctx, "loadtest-pod-loss", cfg.podLossLoad)
		job.waitFlowing(ctx)
		pods, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
		if err != nil || len(pods) < 2 {
			t.Fatalf("want at least 2 Ready relay pods before deleting one, have %d (%v)", len(pods), err)
		}
		victim := pods[0].Name
		begin := time.Now()
		if err := cs.CoreV1().Pods(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting pod %s: %v", victim, err)
		}
		r.logf("deleted relay pod %s (of %d Ready) under load", victim, len(pods))
		if err := chartPoll(ctx, time.Second, cfg.podLossLoad, func(ctx context.Context) (bool, string, error) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, victim, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, "pod " + victim + " still terminating", nil
			}
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, chartRelay, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			ready, err := chartRelayPods(ctx, cs, ns, chartRelaySelector, true)
			if err != nil {
				return false, err.Error(), nil
			}
			want := *d.Spec.Replicas
			return int32(len(ready)) >= want, fmt.Sprintf("%d of %d relay pods Ready", len(ready), want), nil
		}); err != nil {
			t.Fatalf("the relay did not recover from the loss of %s: %v", victim, err)
		}
		recovery := time.Since(begin)
		r.logf("pod %s gone and the Deployment back to full strength after %s", victim, recovery.Round(100*time.Millisecond))
		job.mustStillRun(ctx, "the recovery")
		rep := job.report(ctx)
		r.number("pod loss", "back to full strength %s after the delete, 0 failed of %d requests", recovery.Round(100*time.Millisecond), rep.Requests)
		return fmt.Sprintf("recovered in %s; %d requests, 0 failed, %.0f req/s, p99 %.2f ms; %s",
			recovery.Round(100*time.Millisecond), rep.Requests, rep.RequestsPerSecond, rep.Latency.P99, job.upstreamLine)
	})

	if multiNode {
		r.stage("drain under load", func() string {
			nodes.scaleTo(ctx, chartDrainReplicas)
			if _, on := nodes.victim(ctx, workers); on < 2 {
				r.logf("spread again first: %s", nodes.respread(ctx, workers))
			}
			return nodes.drain(ctx, workers, cfg.drainLoad)
		})
		r.stage("node loss under load", func() string {
			return nodes.nodeLoss(ctx, workers, cfg.nodeLoss)
		})
	} else {
		r.skip("drain under load", needWorkers)
		r.skip("node loss under load", needWorkers)
	}

	name, err := enforcer(ctx, cs)
	switch {
	case err != nil:
		r.stage("NetworkPolicy enforced", func() string { t.Fatal(err); return "" })
	case name == "":
		r.skip("NetworkPolicy enforced", "the cluster runs no NetworkPolicy enforcer (kube-network-policies or kindnet in kube-system)")
	default:
		r.stage("NetworkPolicy enforced", func() string {
			return "enforced by " + name + ": " + nodes.networkPolicy(ctx, cfg.curlImage)
		})
	}
}

// chartWriteKubeconfig writes the kind cluster's kubeconfig (as kind
// exports it) to path, for helm.
func chartWriteKubeconfig(name, path string) error {
	kc, err := cluster.NewProvider(cluster.ProviderWithDocker()).KubeConfig(name, false)
	if err != nil {
		return fmt.Errorf("kubeconfig of kind cluster %q: %w", name, err)
	}
	return os.WriteFile(filepath.Clean(path), []byte(kc), 0o600)
}

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

// chartJob is one running load Job, with the pods and upstream calls seen
// while it ran.
type chartJob struct {
	jobs         *chartJobs
	name         string
	d            time.Duration
	started      time.Time
	standIn      uint64 // stand-in requests before the run
	mu           sync.Mutex
	podsSeen     map[string]bool
	stopTracking context.CancelFunc
	tracked      chan struct{}
	upstreamLine string // set by report
	allowErrors  bool   // report counts failed requests instead of failing on them
}

// start creates the Job and begins tracking the relay pods that exist
// while it runs (each new replica starts with an empty cache).
func (js *chartJobs) start(ctx context.Context, name string, d time.Duration) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, false)
}

// startAllowingErrors is start for a run in which some requests may fail
// (the loss of a node): the load goes on whatever fails, and report
// counts the failures instead of failing the test on them.
func (js *chartJobs) startAllowingErrors(ctx context.Context, name string, d time.Duration) *chartJob {
	js.t.Helper()
	return js.startJob(ctx, name, d, true)
}

func (js *chartJobs) startJob(ctx context.Context, name string, d time.Duration, allowErrors bool) *chartJob {
	t := js.t
	t.Helper()
	standIn, err := chartStandInRequests(ctx, js.cs, js.ns, chartStandIn)
	if err != nil {
		t.Fatal(err)
	}
	maxErrors := 0
	if allowErrors {
		maxErrors = -1
	}
	args := chartLoadArgsMaxErrors(js.conns, d, maxErrors, js.targets)
	if _, err := js.cs.BatchV1().Jobs(js.ns).Create(ctx, chartLoadJob(name, js.image, d, args), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating job %s: %v", name, err)
	}
	js.r.logf("job %s: loadtest %s", name, strings.Join(args, " "))
	j := &chartJob{jobs: js, name: name, d: d, started: time.Now(), standIn: standIn, podsSeen: map[string]bool{}, tracked: make(chan struct{}), allowErrors: allowErrors}
	trackCtx, cancel := context.WithCancel(ctx)
	j.stopTracking = cancel
	go func() {
		defer close(j.tracked)
		for {
			if pods, err := chartRelayPods(trackCtx, js.cs, js.ns, chartRelaySelector, false); err == nil {
				j.mu.Lock()
				for _, p := range pods {
					j.podsSeen[p.Name] = true
				}
				j.mu.Unlock()
			}
			select {
			case <-trackCtx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-j.tracked })
	return j
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
// replicas that existed meanwhile.
func (j *chartJob) report(ctx context.Context) *loadtest.Report {
	t := j.jobs.t
	t.Helper()
	js := j.jobs
	j.wait(ctx, nil)
	j.stopTracking()
	<-j.tracked
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
	calls := int(after - j.standIn)
	j.mu.Lock()
	replicas := len(j.podsSeen)
	j.mu.Unlock()
	bound := chartUpstreamBound(replicas, len(chartKeys), j.d, js.ttl)
	j.upstreamLine = fmt.Sprintf("%d upstream calls (<= %d for %d replicas)", calls, bound, replicas)
	js.r.logf("job %s: the stand-in answered %s", j.name, j.upstreamLine)
	js.r.number("upstream calls ("+j.name+")", "%d in %s with %d relay replicas seen (bound %d)", calls, j.d, replicas, bound)
	if calls > bound {
		t.Fatalf("job %s: %d upstream calls in %s for %d keys over %d replicas: more than the TTL allows (%d)", j.name, calls, j.d, len(chartKeys), replicas, bound)
	}
	return rep
}
