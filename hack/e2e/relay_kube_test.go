//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// chartPoll calls check every interval until it reports done, fails, or
// timeout passes; the error then carries check's last word on why not yet.
func chartPoll(ctx context.Context, interval, timeout time.Duration, check func(context.Context) (done bool, why string, err error)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		done, why, err := check(ctx)
		if err != nil {
			return false, err
		}
		last = why
		return done, nil
	})
	if err != nil && last != "" {
		return fmt.Errorf("%w: %s", err, last)
	}
	return err
}

// chartRolledOut reports whether a Deployment has finished its rollout the
// way `kubectl rollout status` decides it: the controller saw the latest
// spec, every replica runs the new template, no old replica is left, and
// all of them are available. A Progressing=False condition is a failure.
func chartRolledOut(d *appsv1.Deployment) (bool, string, error) {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return false, "", fmt.Errorf("deployment %s: %s: %s", d.Name, c.Reason, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	why := fmt.Sprintf("deployment %s: generation %d observed %d, %d wanted, %d updated, %d total, %d available",
		d.Name, d.Generation, s.ObservedGeneration, want, s.UpdatedReplicas, s.Replicas, s.AvailableReplicas)
	done := s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
	return done, why, nil
}

// chartWaitRollout polls the Deployment's status until its rollout is done.
func chartWaitRollout(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) (*appsv1.Deployment, error) {
	var last *appsv1.Deployment
	err := chartPoll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "deployment " + name + " not found yet", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		last = d
		return chartRolledOut(d)
	})
	if err != nil {
		return last, fmt.Errorf("waiting for the rollout of %s/%s: %w", ns, name, err)
	}
	return last, nil
}

// chartRolloutRestart does what `kubectl rollout restart deployment/name`
// does (a new restartedAt annotation on the pod template) and waits until
// the rollout is done (chartRolledOut reads it only once the controller has
// observed the new generation).
func chartRolloutRestart(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("restarting the rollout of %s: %w", name, err)
	}
	_, err := chartWaitRollout(ctx, cs, ns, name, timeout)
	return err
}

// chartRelayPods lists the relay pods of the release: Running, Ready and
// not being deleted when readyOnly is set.
func chartRelayPods(ctx context.Context, cs kubernetes.Interface, ns, selector string, readyOnly bool) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing relay pods (%s): %w", selector, err)
	}
	if !readyOnly {
		return list.Items, nil
	}
	var ready []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && podReady(p) && p.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	return ready, nil
}

// chartHPAState is what the HPA's status says, for logs and checks.
type chartHPAState struct {
	current, desired int32
	cpu              string // current average utilisation, "?" when unknown
	active           bool   // ScalingActive=True: it has the metrics it needs
	why              string
}

func (s chartHPAState) String() string {
	return fmt.Sprintf("replicas %d -> desired %d, cpu %s", s.current, s.desired, s.cpu)
}

// chartHPA reads the HPA's status.
func chartHPA(ctx context.Context, cs kubernetes.Interface, ns, name string) (chartHPAState, error) {
	h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return chartHPAState{}, fmt.Errorf("getting HPA %s: %w", name, err)
	}
	st := chartHPAState{current: h.Status.CurrentReplicas, desired: h.Status.DesiredReplicas, cpu: "?"}
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil {
			st.cpu = fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization)
		}
	}
	var why []string
	for _, c := range h.Status.Conditions {
		if c.Type == autoscalingv2.ScalingActive {
			st.active = c.Status == corev1.ConditionTrue
		}
		why = append(why, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	st.why = strings.Join(why, "; ")
	return st, nil
}

// chartDeleteNamespace deletes ns, if present, and waits until it is gone,
// so a kept cluster can run the e2e again from a clean slate.
func chartDeleteNamespace(ctx context.Context, cs kubernetes.Interface, ns string, timeout time.Duration) error {
	err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	err = chartPoll(ctx, time.Second, timeout, func(ctx context.Context) (bool, string, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, fmt.Sprintf("namespace %s still there (%v)", ns, err), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for namespace %s to go: %w", ns, err)
	}
	return nil
}
