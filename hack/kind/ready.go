package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// pollInterval is how often readiness is checked.
const pollInterval = 2 * time.Second

// waitHealthy waits, stage by stage, for what make kind-up promises: Ready
// nodes, CoreDNS and kube-proxy running, metrics-server available and the
// metrics API answering with every node's usage.
func waitHealthy(ctx context.Context, cs kubernetes.Interface, timeout time.Duration, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stages := []struct {
		name string
		fn   func(context.Context, kubernetes.Interface) error
	}{
		{"nodes Ready", waitNodesReady},
		{"CoreDNS Running", podsRunning("k8s-app=kube-dns")},
		{"kube-proxy Running", podsRunning("k8s-app=kube-proxy")},
		{"kube-system DaemonSets on every node", daemonSetsAvailable("kube-system")},
		{"metrics-server available", deploymentAvailable("kube-system", "metrics-server")},
		{"metrics API answering", waitNodeMetrics},
	}
	for _, s := range stages {
		start := time.Now()
		if err := s.fn(ctx, cs); err != nil {
			return fmt.Errorf("waiting for %s: %w", s.name, err)
		}
		step(log, fmt.Sprintf("%s (%s)", s.name, time.Since(start).Round(100*time.Millisecond)))
	}
	return nil
}

// poll runs check until it reports done, returning its last error on timeout.
func poll(ctx context.Context, check func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		done, err := check(ctx)
		if err != nil {
			if ctx.Err() == nil {
				// keep the last failure seen before the deadline, not the deadline itself
				last = err
			}
			return false, nil
		}
		return done, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	return err
}

func waitNodesReady(ctx context.Context, cs kubernetes.Interface) error {
	return poll(ctx, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		if len(list.Items) == 0 {
			return false, fmt.Errorf("no nodes")
		}
		for _, n := range list.Items {
			if !nodeReady(n) {
				return false, fmt.Errorf("node %s not Ready", n.Name)
			}
		}
		return true, nil
	})
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podsRunning waits until kube-system has pods with that label selector and
// all of them are Running and Ready.
func podsRunning(selector string) func(context.Context, kubernetes.Interface) error {
	return func(ctx context.Context, cs kubernetes.Interface) error {
		return poll(ctx, func(ctx context.Context) (bool, error) {
			list, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return false, err
			}
			if len(list.Items) == 0 {
				return false, fmt.Errorf("no pods match %s", selector)
			}
			for _, p := range list.Items {
				if p.Status.Phase != corev1.PodRunning || !podReady(p) {
					return false, fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
				}
			}
			return true, nil
		})
	}
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// daemonSetsAvailable waits until every DaemonSet in ns (kube-proxy, the
// pod network, the NetworkPolicy enforcer) has an available pod on each
// node it is meant for.
func daemonSetsAvailable(ns string) func(context.Context, kubernetes.Interface) error {
	return func(ctx context.Context, cs kubernetes.Interface) error {
		return poll(ctx, func(ctx context.Context) (bool, error) {
			list, err := cs.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, d := range list.Items {
				if msg := daemonSetShort(d); msg != "" {
					return false, fmt.Errorf("%s", msg)
				}
			}
			return true, nil
		})
	}
}

// daemonSetShort says why a DaemonSet is not fully available, or "".
func daemonSetShort(d appsv1.DaemonSet) string {
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.DesiredNumberScheduled == 0 || s.NumberAvailable < s.DesiredNumberScheduled || s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
		return fmt.Sprintf("daemonset %s/%s: %d of %d pods available, %d updated", d.Namespace, d.Name, s.NumberAvailable, s.DesiredNumberScheduled, s.UpdatedNumberScheduled)
	}
	return ""
}

func deploymentAvailable(ns, name string) func(context.Context, kubernetes.Interface) error {
	return func(ctx context.Context, cs kubernetes.Interface) error {
		return poll(ctx, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, fmt.Errorf("deployment %s/%s not available", ns, name)
		})
	}
}

// nodeMetricsList is the part of metrics.k8s.io/v1beta1 NodeMetricsList
// that the readiness check reads.
type nodeMetricsList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Usage map[string]string `json:"usage"`
	} `json:"items"`
}

// waitNodeMetrics waits until the metrics API reports CPU and memory usage
// for every node (what `kubectl top nodes` shows).
func waitNodeMetrics(ctx context.Context, cs kubernetes.Interface) error {
	return poll(ctx, func(ctx context.Context) (bool, error) {
		m, err := nodeMetrics(ctx, cs)
		if err != nil {
			return false, err
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		if len(m.Items) < len(nodes.Items) {
			return false, fmt.Errorf("metrics for %d of %d nodes", len(m.Items), len(nodes.Items))
		}
		for _, it := range m.Items {
			if it.Usage["cpu"] == "" || it.Usage["memory"] == "" {
				return false, fmt.Errorf("node %s has no cpu/memory usage yet", it.Metadata.Name)
			}
		}
		return true, nil
	})
}

func nodeMetrics(ctx context.Context, cs kubernetes.Interface) (nodeMetricsList, error) {
	var m nodeMetricsList
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	if err != nil {
		return m, fmt.Errorf("metrics API: %w", err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("decoding node metrics: %w", err)
	}
	return m, nil
}
