//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// chartNodes runs the chart's multi-node stages: spread, drain, node loss
// and the NetworkPolicy. It shares the run, the client and the load Jobs
// of TestChartOnKind.
type chartNodes struct {
	t       *testing.T
	r       *chartRun
	cs      kubernetes.Interface
	ns      string
	cluster string // kind cluster name: its node containers are named after it
	jobs    *chartJobs
	helm    chartHelm
	rpt     *chartReport
}

// relayPlacement lists the Ready relay pods and counts them per node.
func (n chartNodes) relayPlacement(ctx context.Context) ([]corev1.Pod, map[string]int) {
	n.t.Helper()
	pods, err := chartRelayPods(ctx, n.cs, n.ns, chartRelaySelector, true)
	if err != nil {
		n.t.Fatal(err)
	}
	return pods, podsByNode(pods)
}

// standInNode is the node the stand-in upstream runs on.
func (n chartNodes) standInNode(ctx context.Context) string {
	n.t.Helper()
	pods, err := n.cs.CoreV1().Pods(n.ns).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + chartRelease + ",app.kubernetes.io/component=menu-api",
	})
	if err != nil || len(pods.Items) == 0 {
		n.t.Fatalf("no stand-in pod (%v)", err)
	}
	return pods.Items[0].Spec.NodeName
}

// checkSpread fails unless the Ready relay pods run on more than one of
// the workers, and returns the placement.
func (n chartNodes) checkSpread(ctx context.Context, workers []corev1.Node) string {
	n.t.Helper()
	var byNode map[string]int
	err := chartPoll(ctx, 2*time.Second, 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var pods []corev1.Pod
		pods, byNode = n.relayPlacement(ctx)
		used := 0
		for _, w := range workers {
			if byNode[w.Name] > 0 {
				used++
			}
		}
		return used >= 2, fmt.Sprintf("%d Ready relay pods on %s", len(pods), placement(byNode)), nil
	})
	if err != nil {
		n.t.Fatalf("the relay pods are not spread over the workers: %v", err)
	}
	return placement(byNode)
}

// respread restarts the relay's rollout (as kubectl rollout restart does),
// so that the scheduler spreads its pods over the nodes again, and waits
// until they run on more than one worker.
func (n chartNodes) respread(ctx context.Context, workers []corev1.Node) string {
	n.t.Helper()
	if err := chartRolloutRestart(ctx, n.cs, n.ns, chartRelay, 3*time.Minute); err != nil {
		n.t.Fatal(err)
	}
	return n.checkSpread(ctx, workers)
}

// victim picks the worker to drain or lose: the one with the most Ready
// relay pods that does not run the stand-in upstream (its loss would be
// the upstream's, not the relay's).
func (n chartNodes) victim(ctx context.Context, workers []corev1.Node) (string, int) {
	n.t.Helper()
	_, byNode := n.relayPlacement(ctx)
	standIn := n.standInNode(ctx)
	best, most := "", 0
	for _, w := range workers {
		if w.Name != standIn && byNode[w.Name] > most {
			best, most = w.Name, byNode[w.Name]
		}
	}
	if best == "" {
		n.t.Fatalf("no worker runs relay pods without the stand-in (stand-in on %s, relay pods: %s)", standIn, placement(byNode))
	}
	return best, most
}

// fullStrengthOff reports whether the relay has as many Ready pods as its
// Deployment wants, none of them on the node avoid, and why not.
func (n chartNodes) fullStrengthOff(ctx context.Context, avoid string) (bool, string) {
	d, err := n.cs.AppsV1().Deployments(n.ns).Get(ctx, chartRelay, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	pods, err := chartRelayPods(ctx, n.cs, n.ns, chartRelaySelector, true)
	if err != nil {
		return false, err.Error()
	}
	elsewhere := slices.DeleteFunc(slices.Clone(pods), func(p corev1.Pod) bool { return p.Spec.NodeName == avoid })
	want := ptr.Deref(d.Spec.Replicas, 1)
	return int32(len(elsewhere)) >= want, fmt.Sprintf("%d of %d relay pods Ready off %s (%s)", len(elsewhere), want, avoid, placement(podsByNode(pods)))
}

// waitFullStrength waits until fullStrengthOff(avoid) holds.
func (n chartNodes) waitFullStrength(ctx context.Context, avoid string, timeout time.Duration) error {
	return chartPoll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		ok, why := n.fullStrengthOff(ctx, avoid)
		return ok, why, nil
	})
}

// scaleTo sets the HPA's floor with helm upgrade --reuse-values and waits
// until the relay has that many Ready pods.
func (n chartNodes) scaleTo(ctx context.Context, replicas int) {
	n.t.Helper()
	if _, err := n.helm.run(ctx, "upgrade", chartRelease, "./charts", "--reuse-values", "--set", fmt.Sprintf("autoscaling.minReplicas=%d", replicas)); err != nil {
		n.t.Fatalf("helm upgrade --set autoscaling.minReplicas=%d: %v", replicas, err)
	}
	err := chartPoll(ctx, 2*time.Second, 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		pods, byNode := n.relayPlacement(ctx)
		return len(pods) >= replicas, fmt.Sprintf("%d of %d relay pods Ready (%s)", len(pods), replicas, placement(byNode)), nil
	})
	if err != nil {
		n.t.Fatalf("the relay did not reach %d Ready pods: %v", replicas, err)
	}
}

// drain drains a worker under load: cordon, evictions through the
// PodDisruptionBudget (maxUnavailable 1: with two relay pods on the node
// the second eviction must be refused until the first one's replacement is
// Ready elsewhere), 0 failed requests; then uncordon and spread again.
func (n chartNodes) drain(ctx context.Context, workers []corev1.Node, load time.Duration) string {
	t := n.t
	t.Helper()
	victim, onVictim := n.victim(ctx, workers)
	if onVictim < 2 {
		t.Fatalf("worker %s has %d relay pod: the budget is only tested with two or more on the drained node", victim, onVictim)
	}
	pdb, err := n.cs.PolicyV1().PodDisruptionBudgets(n.ns).Get(ctx, chartRelay, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's PodDisruptionBudget: %v", err)
	}
	n.r.logf("draining %s (%d relay pods) under load; budget maxUnavailable %v minAvailable %v, %d disruptions allowed now",
		victim, onVictim, pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable, pdb.Status.DisruptionsAllowed)
	job := n.jobs.start(ctx, "loadtest-drain", load)
	job.waitFlowing(ctx)
	t.Cleanup(func() {
		// never leave a worker cordoned behind, whatever failed
		_ = setUnschedulable(context.Background(), n.cs, victim, false)
	})
	job.mark("drain started")
	res, err := drainNode(ctx, n.cs, victim, time.Second, 3*time.Minute)
	job.mark("drained")
	n.r.logf("drain of %s: %d pods evicted in %s, %d refusals (429) %v", victim, len(res.evicted), res.took.Round(100*time.Millisecond), res.refused(), res.refusals)
	if err != nil {
		t.Fatalf("draining %s: %v", victim, err)
	}
	relayRefused := 0
	for pod, c := range res.refusals {
		if strings.HasPrefix(pod, n.ns+"/"+chartRelay+"-") && !strings.HasPrefix(pod, n.ns+"/"+chartStandIn) {
			relayRefused += c
		}
	}
	if relayRefused == 0 {
		t.Fatalf("the drain evicted %d relay pods from %s without one refusal: the PodDisruptionBudget did not hold", onVictim, victim)
	}
	if err := n.waitFullStrength(ctx, victim, 2*time.Minute); err != nil {
		t.Fatalf("the relay is not back to full strength off %s: %v", victim, err)
	}
	job.mark("full strength")
	job.mustStillRun(ctx, "the drain")
	job.stopAfter(ctx, chartLoadTail)
	rep := job.report(ctx)
	n.rpt.add("drain", "a worker drained under load", rep, job.reportMarks(rep),
		fmt.Sprintf("%s drained as kubectl drain does it (cordon, then the Eviction API for every pod but DaemonSet pods): %d pods evicted in %s, %d relay evictions refused by the PodDisruptionBudget (429) until a replacement was Ready elsewhere; 0 failed of %d requests.",
			victim, len(res.evicted), res.took.Round(100*time.Millisecond), relayRefused, rep.Requests))
	if err := setUnschedulable(ctx, n.cs, victim, false); err != nil {
		t.Fatal(err)
	}
	spread := n.respread(ctx, workers)
	n.r.number("drain", "%s: %d pods evicted in %s, %d evictions refused by the PodDisruptionBudget, 0 failed of %d requests",
		victim, len(res.evicted), res.took.Round(100*time.Millisecond), relayRefused, rep.Requests)
	return fmt.Sprintf("%s drained in %s (%d pods, %d relay evictions refused by the budget); %d requests, 0 failed, %.0f req/s; uncordoned, spread again: %s",
		victim, res.took.Round(100*time.Millisecond), len(res.evicted), relayRefused, rep.Requests, rep.RequestsPerSecond, spread)
}

// nodeLoss stops a worker's container under load and measures how long
// until the Service stops sending to its pods (no Ready endpoint left on
// it) and until replacements are Ready elsewhere, and how many requests
// failed meanwhile; then it starts the node again and checks that the
// cluster is whole: every node Ready, every DaemonSet on every node, the
// relay spread over the workers again.
func (n chartNodes) nodeLoss(ctx context.Context, workers []corev1.Node, load time.Duration) string {
	t := n.t
	t.Helper()
	victim, onVictim := n.victim(ctx, workers)
	container := victim // kind names each node's container after the node
	job := n.jobs.startAllowingErrors(ctx, "loadtest-node-loss", load)
	job.waitFlowing(ctx)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = docker(context.Background(), "start", container)
		}
	})
	begin := time.Now()
	job.mark("node stopped")
	if err := docker(ctx, "stop", container); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(begin)
	n.r.logf("docker stop %s (%d relay pods on it) under load: stopped in %s", container, onVictim, stopped.Round(100*time.Millisecond))

	var marked, unready, replaced time.Duration
	err := chartPoll(ctx, time.Second, 5*time.Minute, func(ctx context.Context) (bool, string, error) {
		now := time.Since(begin)
		if marked == 0 {
			if node, err := n.cs.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{}); err == nil && nodeCondition(node, corev1.NodeReady) != corev1.ConditionTrue {
				marked = now
				job.mark("node NotReady")
				n.r.logf("node %s is Ready=%s after %s", victim, nodeCondition(node, corev1.NodeReady), now.Round(time.Second))
			}
		}
		if unready == 0 {
			st, err := serviceEndpointsOn(ctx, n.cs, n.ns, chartRelay, victim)
			if err != nil {
				return false, err.Error(), nil
			}
			if st.ready == 0 {
				unready = now
				job.mark("no endpoint on it")
				n.r.logf("the Service has no Ready endpoint on %s after %s (%d still listed, not ready)", victim, now.Round(time.Second), st.listed)
			}
		}
		if replaced == 0 {
			if ok, why := n.fullStrengthOff(ctx, victim); ok {
				replaced = now
				job.mark("replacements Ready")
				n.r.logf("replacement relay pods Ready off %s after %s: %s", victim, now.Round(time.Second), why)
			}
		}
		return unready > 0 && replaced > 0, fmt.Sprintf("after %s: node marked %v, endpoints gone %v, replaced %v", now.Round(time.Second), marked > 0, unready > 0, replaced > 0), nil
	})
	if err != nil {
		t.Fatalf("the relay did not get over the loss of %s: %v", victim, err)
	}
	job.mustStillRun(ctx, "the replacement of the lost pods")
	job.stopAfter(ctx, chartLoadTail)
	rep := job.report(ctx)
	failed := chartFailures(rep)
	n.r.logf("node loss: %d of %d requests failed (%v %v)", failed, rep.Requests, rep.StatusCodes, rep.ErrorKinds)
	n.rpt.add("node-loss", "a worker lost under load", rep, job.reportMarks(rep),
		fmt.Sprintf("docker stop of %s with %d relay pods: node NotReady after %s, no Ready endpoint on it after %s, replacements Ready elsewhere after %s; %d of %d requests failed (requests already sent to the lost pods).",
			victim, onVictim, marked.Round(time.Second), unready.Round(time.Second), replaced.Round(time.Second), failed, rep.Requests))

	begin = time.Now()
	if err := docker(ctx, "start", container); err != nil {
		t.Fatal(err)
	}
	restarted = true
	eventually(ctx, t, 4*time.Minute, func(ctx context.Context) error { return nodesReady(ctx, n.cs) })
	eventually(ctx, t, 3*time.Minute, func(ctx context.Context) error { return daemonSetsReady(ctx, n.cs, "kube-system") })
	eventually(ctx, t, 3*time.Minute, func(ctx context.Context) error { return noTerminatingOn(ctx, n.cs, n.ns, victim) })
	back := time.Since(begin)
	n.r.logf("%s back: every node Ready, DaemonSets complete, old pods cleaned up after %s", victim, back.Round(time.Second))
	spread := n.respread(ctx, workers)
	n.r.number("node loss", "%s stopped with %d relay pods: node NotReady after %s, no Ready endpoint on it after %s, replacements Ready after %s; %d of %d requests failed",
		victim, onVictim, marked.Round(time.Second), unready.Round(time.Second), replaced.Round(time.Second), failed, rep.Requests)
	return fmt.Sprintf("%s lost: endpoints off it after %s, replacements Ready after %s, %d of %d requests failed (%.4f%%); back and whole after %s, spread: %s",
		victim, unready.Round(time.Second), replaced.Round(time.Second), failed, rep.Requests, 100*float64(failed)/float64(max(rep.Requests, 1)), back.Round(time.Second), spread)
}

// daemonSetsReady fails unless every DaemonSet in ns has an available,
// up-to-date pod on every node it wants one on.
func daemonSetsReady(ctx context.Context, cs kubernetes.Interface, ns string) error {
	list, err := cs.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range list.Items {
		if !daemonSetComplete(d) {
			return fmt.Errorf("daemonset %s: %d of %d available", d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled)
		}
	}
	return nil
}

func daemonSetComplete(d appsv1.DaemonSet) bool {
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.DesiredNumberScheduled > 0 &&
		s.NumberAvailable == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled
}

// noTerminatingOn fails while pods of ns on node are still terminating (the
// ones the lost node's kubelet has to clean up once it is back).
func noTerminatingOn(ctx context.Context, cs kubernetes.Interface, ns, node string) error {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			return fmt.Errorf("pod %s on %s still terminating", p.Name, node)
		}
	}
	return nil
}

// enforcer names the NetworkPolicy enforcer the cluster runs (a DaemonSet
// in kube-system), or "" when it has none.
func enforcer(ctx context.Context, cs kubernetes.Interface) (string, error) {
	for _, name := range []string{"kube-network-policies", "kindnet"} {
		d, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !daemonSetComplete(*d) {
			return "", fmt.Errorf("the NetworkPolicy enforcer %s is not running on every node: %d of %d available", name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled)
		}
		return name, nil
	}
	return "", nil
}

// networkPolicy turns the chart's NetworkPolicies on with one allowed
// scraper label (and the control-plane node, whose API server proxies the
// test's own metric reads), runs helm test under them, and probes a relay
// pod and the in-chart Valkey from a pod outside the allowed set (relay
// port open, admin and Valkey ports refused) and from a scraper (relay and
// admin ports open, Valkey refused). A probe before the relays' policies
// reaches the relay and admin ports: the probe itself works (the Valkey port
// is closed already: its policy comes with valkey.enabled).
func (n chartNodes) networkPolicy(ctx context.Context, curlImage, cpAddress string) string {
	t := n.t
	t.Helper()
	const scraperLabel = "restaurants-e2e/scraper"
	_, err := n.cs.AppsV1().Deployments(n.ns).Get(ctx, chartValkey, metav1.GetOptions{})
	valkey := err == nil
	pods, _ := n.relayPlacement(ctx)
	if len(pods) == 0 {
		t.Fatal("no Ready relay pod to probe")
	}
	target := pods[0]
	probe := func(name string, labels map[string]string) string {
		script := fmt.Sprintf(`code() { curl --silent --output /dev/null --write-out '%%{http_code}' --max-time 4 "$@" || true; }
relay=000; for i in 1 2 3 4 5 6 7 8 9 10; do relay=$(code http://%[1]s:%[2]d/restaurant); [ "$relay" = 200 ] && break; sleep 1; done
admin=000; for i in 1 2 3; do admin=$(code http://%[1]s:%[3]d/metrics); [ "$admin" = 200 ] && break; sleep 1; done
line="relay=$relay admin=$admin"
if [ %[4]t = true ]; then
  valkey=none; for i in 1 2; do out=$(printf 'PING\r\nQUIT\r\n' | curl --silent --max-time 4 telnet://%[5]s:6379 || true)
    case "$out" in *PONG*|*NOAUTH*) valkey=open; break;; esac; sleep 1; done
  line="$line valkey=$valkey"
fi
echo "$line"`, target.Status.PodIP, chartHTTPPort, chartAdminPort, valkey, chartValkey)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PodSpec{
				RestartPolicy:                corev1.RestartPolicyNever,
				AutomountServiceAccountToken: ptr.To(false),
				EnableServiceLinks:           ptr.To(false),
				SecurityContext: &corev1.PodSecurityContext{
					RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				Containers: []corev1.Container{{
					Name: "curl", Image: curlImage, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"/bin/sh", "-c", script},
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					},
				}},
			},
		}
		if _, err := n.cs.CoreV1().Pods(n.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating probe pod %s: %v", name, err)
		}
		return strings.TrimSpace(chartTail(waitClient(ctx, t, n.cs, n.ns, name), 1))
	}
	want := func(relay, admin, engine string) string {
		s := "relay=" + relay + " admin=" + admin
		if valkey {
			s += " valkey=" + engine
		}
		return s
	}
	// The engine's own policy comes with valkey.enabled: its port is closed
	// to the probe already (tierGuarded showed it open to the relays' labels).
	if got := probe("netpol-before", map[string]string{"app": "netpol-probe"}); got != want("200", "200", "none") {
		t.Fatalf("before the NetworkPolicies a probe pod got %q from %s, want %q: the probe itself does not work", got, target.Name, want("200", "200", "none"))
	}

	args := []string{"upgrade", chartRelease, "./charts", "--reuse-values",
		"--set", "networkPolicy.enabled=true",
		// --set-string: a label value is a string, and the schema refuses the boolean --set makes of "true"
		"--set-string", "networkPolicy.metricsFrom[0].podSelector.matchLabels." + strings.ReplaceAll(scraperLabel, ".", `\.`) + "=true"}
	if cpAddress != "" {
		// the API server (on the control plane) proxies this test's metric reads
		args = append(args, "--set", "networkPolicy.metricsFrom[1].ipBlock.cidr="+cpAddress+"/32")
	}
	out, err := n.helm.run(ctx, args...)
	if err != nil {
		t.Fatalf("helm upgrade --set networkPolicy.enabled=true: %v", err)
	}
	n.r.logf("helm upgrade with the NetworkPolicies:\n%s", chartTail(out, 4))
	policies := []string{chartRelay}
	if valkey {
		policies = append(policies, chartValkey)
	}
	for _, name := range policies {
		if _, err := n.cs.NetworkingV1().NetworkPolicies(n.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("the chart's NetworkPolicy %s: %v", name, err)
		}
	}
	out, err = n.helm.run(ctx, "test", chartRelease, "--logs", "--timeout", "3m")
	if err != nil {
		t.Fatalf("helm test under the NetworkPolicy: %v\n%s", err, chartTail(out, 20))
	}
	n.r.logf("helm test under the NetworkPolicies passed")

	outsider := probe("netpol-outsider", map[string]string{"app": "netpol-probe"})
	scraper := probe("netpol-scraper", map[string]string{"app": "netpol-probe", scraperLabel: "true"})
	n.r.logf("probes of %s (%s) and %s: outsider %q, scraper %q", target.Name, target.Status.PodIP, chartValkey, outsider, scraper)
	if w := want("200", "000", "none"); outsider != w {
		t.Fatalf("a pod outside the allowed set got %q from %s, want %s (relay port open, admin and Valkey ports refused)", outsider, target.Name, w)
	}
	if w := want("200", "200", "none"); scraper != w {
		t.Fatalf("a scraper got %q from %s, want %s", scraper, target.Name, w)
	}
	if _, err := chartPodMetrics(ctx, n.cs, n.ns, target.Name, chartAdminPort); err != nil {
		t.Fatalf("the API server's node cannot read the relay's metrics under the policy (metricsFrom ipBlock %s/32): %v", cpAddress, err)
	}
	detail := fmt.Sprintf("helm test passes under the policies; from a pod outside the allowed set: relay port 200, admin port refused; from a scraper: both 200 (relay pod %s on %s)",
		target.Name, target.Spec.NodeName)
	if valkey {
		detail += fmt.Sprintf("; the Valkey port (%s) refused to both, as before the relays' policies (its own comes with valkey.enabled)", chartValkey)
	}
	return detail
}
