//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// controlPlaneLabel marks kubeadm's control-plane nodes.
const controlPlaneLabel = "node-role.kubernetes.io/control-plane"

// clusterNodes lists the cluster's nodes by name, control plane first,
// and the workers among them (nodes without the control-plane label).
func clusterNodes(ctx context.Context, cs kubernetes.Interface) (all, workers []corev1.Node, err error) {
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("listing nodes: %w", err)
	}
	all = list.Items
	slices.SortFunc(all, func(a, b corev1.Node) int {
		_, acp := a.Labels[controlPlaneLabel]
		_, bcp := b.Labels[controlPlaneLabel]
		if acp != bcp {
			if acp {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, n := range all {
		if _, cp := n.Labels[controlPlaneLabel]; !cp {
			workers = append(workers, n)
		}
	}
	return all, workers, nil
}

// workloadNodes are the nodes ordinary pods run on: the workers, or the
// single node of a cluster without workers.
func workloadNodes(ctx context.Context, cs kubernetes.Interface) ([]corev1.Node, error) {
	all, workers, err := clusterNodes(ctx, cs)
	if err != nil {
		return nil, err
	}
	if len(workers) > 0 {
		return workers, nil
	}
	return all, nil
}

// podsByNode counts pods per node name.
func podsByNode(pods []corev1.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		out[p.Spec.NodeName]++
	}
	return out
}

// placement renders a pods-per-node count as "node=n, node=n" in name order.
func placement(byNode map[string]int) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		parts = append(parts, fmt.Sprintf("%s=%d", n, byNode[n]))
	}
	return strings.Join(parts, ", ")
}

// setUnschedulable cordons or uncordons a node, as kubectl cordon does.
func setUnschedulable(ctx context.Context, cs kubernetes.Interface, node string, on bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("setting unschedulable=%t on node %s: %w", on, node, err)
	}
	return nil
}

// drainResult is what a drain did.
type drainResult struct {
	evicted  []string       // namespace/name of the pods evicted
	refusals map[string]int // 429 answers per pod: the PodDisruptionBudget refused the eviction
	took     time.Duration
}

// refused is the number of evictions the disruption budgets refused.
func (d drainResult) refused() int {
	n := 0
	for _, c := range d.refusals {
		n += c
	}
	return n
}

// drainNode does what `kubectl drain --ignore-daemonsets
// --delete-emptydir-data` does, through the API: cordon the node, then ask
// the Eviction API (policy/v1) to evict every pod on it except DaemonSet
// and mirror pods, all at once, each retried while the API answers 429
// (a PodDisruptionBudget would be broken), and wait until every evicted
// pod is gone. Unlike kubectl's drain helper it counts the refusals.
func drainNode(ctx context.Context, cs kubernetes.Interface, node string, retry, timeout time.Duration) (drainResult, error) {
	begin := time.Now()
	res := drainResult{refusals: map[string]int{}}
	if err := setUnschedulable(ctx, cs, node, true); err != nil {
		return res, err
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return res, fmt.Errorf("listing the pods on %s: %w", node, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, p := range pods.Items {
		if !evictable(p) {
			continue
		}
		key := p.Namespace + "/" + p.Name
		res.evicted = append(res.evicted, key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			refusals, err := evictPod(ctx, cs, p, retry)
			mu.Lock()
			defer mu.Unlock()
			if refusals > 0 {
				res.refusals[key] = refusals
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(begin)
	return res, errors.Join(errs...)
}

// evictable: kubectl drain --ignore-daemonsets leaves DaemonSet pods (their
// controller would put them back at once) and mirror pods (static pods of
// the kubelet) alone, and finished pods need no eviction.
func evictable(p corev1.Pod) bool {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return false
		}
	}
	return true
}

// evictPod posts an Eviction for p until the API accepts it, counting the
// 429 refusals, then waits until the pod (that UID) is gone.
func evictPod(ctx context.Context, cs kubernetes.Interface, p corev1.Pod, retry time.Duration) (int, error) {
	refusals := 0
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
	for {
		err := cs.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
		if err == nil || apierrors.IsNotFound(err) {
			break
		}
		if !apierrors.IsTooManyRequests(err) {
			return refusals, fmt.Errorf("evicting: %w", err)
		}
		refusals++
		select {
		case <-ctx.Done():
			return refusals, fmt.Errorf("still refused after %d tries (%v): %w", refusals, err, ctx.Err())
		case <-time.After(retry):
		}
	}
	for {
		got, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && got.UID != p.UID) {
			return refusals, nil
		}
		select {
		case <-ctx.Done():
			return refusals, fmt.Errorf("evicted but not gone: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// docker runs the docker CLI (kind's nodes are containers of the engine).
func docker(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// endpointState is what a Service's EndpointSlices say about the endpoints
// on one node.
type endpointState struct {
	ready, listed int
}

// serviceEndpointsOn counts the endpoints of a Service on node: all that are
// listed, and the ready ones (where kube-proxy sends traffic).
func serviceEndpointsOn(ctx context.Context, cs kubernetes.Interface, ns, service, node string) (endpointState, error) {
	var st endpointState
	list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return st, fmt.Errorf("listing the EndpointSlices of %s: %w", service, err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.NodeName == nil || *e.NodeName != node {
				continue
			}
			st.listed++
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				st.ready++
			}
		}
	}
	return st, nil
}

// nodeCondition is the status of one condition of a node, "" when absent.
func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// nodeAddress is a node's InternalIP, "" when it has none.
func nodeAddress(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}
