//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"github.com/scilifelab/restaurants/internal/loadtest"
)

// chartForward is a running port-forward to one pod, as `kubectl
// port-forward` makes it: local ports on 127.0.0.1 tunnelled through the API
// server to the pod's ports.
type chartForward struct {
	local map[uint16]uint16 // pod port -> local port
	stop  chan struct{}
	done  chan error
}

// chartPortForward forwards a free local port on 127.0.0.1 to each of the
// pod's ports. Like kubectl, it speaks SPDY over WebSockets and falls back
// to plain SPDY when the API server cannot upgrade.
func chartPortForward(ctx context.Context, config *rest.Config, cs kubernetes.Interface, ns, pod string, podPorts ...uint16) (*chartForward, error) {
	url := cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		return nil, fmt.Errorf("port-forward transport: %w", err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(url, config)
	if err != nil {
		return nil, fmt.Errorf("port-forward websocket dialer: %w", err)
	}
	dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	var specs []string
	for _, p := range podPorts {
		specs = append(specs, fmt.Sprintf("0:%d", p))
	}
	f := &chartForward{local: map[uint16]uint16{}, stop: make(chan struct{}), done: make(chan error, 1)}
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, specs, f.stop, ready, io.Discard, os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", ns, pod, err)
	}
	go func() { f.done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		return nil, fmt.Errorf("port-forward to %s/%s ended before it was ready: %v", ns, pod, err)
	case <-ctx.Done():
		close(f.stop)
		return nil, fmt.Errorf("port-forward to %s/%s: %w", ns, pod, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil {
		f.close()
		return nil, fmt.Errorf("port-forward ports: %w", err)
	}
	for _, p := range ports {
		f.local[p.Remote] = p.Local
	}
	return f, nil
}

// url is http://127.0.0.1:LOCAL + path for the pod port.
func (f *chartForward) url(podPort uint16, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", f.local[podPort], path)
}

// close stops the forward and reports whether it had broken meanwhile.
func (f *chartForward) close() error {
	select {
	case err := <-f.done:
		return fmt.Errorf("the port-forward ended during the run: %v", err)
	default:
	}
	close(f.stop)
	return nil
}

// chartLoadArgs are the load tool's arguments for a bounded, closed-loop run
// over the targets that fails (exit 1) on any error and prints JSON.
func chartLoadArgs(conns int, d time.Duration, targets []string, extra ...string) []string {
	return chartLoadArgsMaxErrors(conns, d, 0, targets, extra...)
}

// chartLoadArgsMaxErrors is chartLoadArgs with the number of errors the run
// may have before it exits 1 (-1: any number).
func chartLoadArgsMaxErrors(conns int, d time.Duration, maxErrors int, targets []string, extra ...string) []string {
	args := []string{"-c", strconv.Itoa(conns), "-d", d.String(), "-timeout", "10s", "-json", "-progress", "never", "-max-errors", strconv.Itoa(maxErrors)}
	return append(append(args, extra...), targets...)
}

// chartParseReport finds the load tool's JSON report in its output. A
// pod's log mixes stdout and stderr line by line, in no set order, so the
// tool's own messages (lines starting with "loadtest:", such as the one
// that tells a failed run's errors) are dropped first; the report is then
// the first JSON object.
func chartParseReport(out string) (*loadtest.Report, error) {
	lines := strings.Split(out, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, "loadtest:") })
	out = strings.Join(lines, "\n")
	i := strings.Index(out, "{")
	if i < 0 {
		return nil, fmt.Errorf("no JSON report in the load tool's output:\n%s", chartTail(out, 20))
	}
	var rep loadtest.Report
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); err != nil {
		return nil, fmt.Errorf("decoding the load tool's JSON report: %w\n%s", err, chartTail(out, 20))
	}
	return &rep, nil
}

// chartFailures counts the requests of a run that did not get a 200:
// transport errors, missed open-loop sends and every non-200 answer.
func chartFailures(rep *loadtest.Report) int64 {
	n := rep.TransportErrors + rep.Missed
	for code, c := range rep.StatusCodes {
		if code != "200" {
			n += c
		}
	}
	return n
}

// chartReportLine is a one-line summary of a load run.
func chartReportLine(rep *loadtest.Report) string {
	return fmt.Sprintf("%d requests in %.1fs, %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms, status %v, transport errors %d",
		rep.Requests, rep.ElapsedSeconds, rep.RequestsPerSecond, rep.Latency.P50, rep.Latency.P99, rep.Latency.P999, rep.Latency.Max,
		rep.StatusCodes, rep.TransportErrors)
}

// chartBuildLoadtest builds cmd/loadtest for this host into dir.
func chartBuildLoadtest(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "loadtest")
	if _, err := chartExec(ctx, root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", bin, "./cmd/loadtest"); err != nil {
		return "", fmt.Errorf("building the load tool: %w", err)
	}
	return bin, nil
}

// chartLoadJob is the load tool run in the cluster as a Job, from the relay
// image (which holds loadtest), under the restricted Pod Security profile.
func chartLoadJob(name, image string, d time.Duration, args []string) *batchv1.Job {
	labels := map[string]string{
		"app.kubernetes.io/name":      "restaurants-loadtest",
		"app.kubernetes.io/part-of":   "restaurants",
		"app.kubernetes.io/component": "loadtest",
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64((d + 2*time.Minute).Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// on the control plane: the load must outlive a drained or lost worker
					NodeSelector: map[string]string{controlPlaneLabel: ""},
					Tolerations: []corev1.Toleration{{
						Key: controlPlaneLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
					}},
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "loadtest",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"/usr/local/bin/loadtest"},
						Args:            args,
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr.To(true),
							ReadOnlyRootFilesystem:   ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

// chartJobPod returns the pod of a Job once one exists.
func chartJobPod(ctx context.Context, cs kubernetes.Interface, ns, job string) (*corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of job %s: %w", job, err)
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	return &pods.Items[0], nil
}

// chartJobFinished reports whether the Job completed or failed.
func chartJobFinished(j *batchv1.Job) (finished, succeeded bool, why string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true, "complete"
		case batchv1.JobFailed:
			return true, false, c.Reason + ": " + c.Message
		}
	}
	return false, false, fmt.Sprintf("active %d, succeeded %d, failed %d", j.Status.Active, j.Status.Succeeded, j.Status.Failed)
}

// chartPodMetrics scrapes one relay pod's /metrics through the API server's
// pod proxy (no port-forward needed), so every replica can be read.
func chartPodMetrics(ctx context.Context, cs kubernetes.Interface, ns, pod string, adminPort int) (*loadtest.MetricsSample, error) {
	raw, err := cs.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").
		Name(fmt.Sprintf("%s:%d", pod, adminPort)).SubResource("proxy").Suffix("metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics of pod %s: %w", pod, err)
	}
	return loadtest.ParseMetrics(bytes.NewReader(raw))
}

// chartRelayCounters sums, per pod, the relay's request and upstream-call
// counters over the given pods (pods that do not answer count as absent).
func chartRelayCounters(ctx context.Context, cs kubernetes.Interface, ns string, pods []corev1.Pod, adminPort int) map[string][2]float64 {
	out := map[string][2]float64{}
	for _, p := range pods {
		m, err := chartPodMetrics(ctx, cs, ns, p.Name, adminPort)
		if err != nil {
			continue
		}
		out[p.Name] = [2]float64{m.Sum(loadtest.MetricRequests), m.Sum(loadtest.MetricUpstreamRequests)}
	}
	return out
}

// chartStandInRequests reads how many API requests the stand-in upstream
// has answered (its /-/stats), through the API server's service proxy: the
// ground truth of the upstream calls all relay replicas made.
func chartStandInRequests(ctx context.Context, cs kubernetes.Interface, ns, service string) (uint64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().Namespace(ns).Resource("services").
		Name(service + ":http").SubResource("proxy").Suffix("-/stats").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("stand-in stats: %w", err)
	}
	var stats struct {
		Requests uint64 `json:"requests"`
	}
	if err := json.Unmarshal(raw, &stats); err != nil {
		return 0, fmt.Errorf("decoding stand-in stats %q: %w", raw, err)
	}
	return stats.Requests, nil
}
