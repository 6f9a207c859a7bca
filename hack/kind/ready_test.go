package main

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func node(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
	}
}

func pod(name, app string, phase corev1.PodPhase, ready corev1.ConditionStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{"k8s-app": app}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
	}
}

// shortCtx bounds a check that is expected to keep failing: the first
// check runs at once, the next would come after pollInterval.
func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestWaitNodesReady(t *testing.T) {
	t.Parallel()
	if err := waitNodesReady(shortCtx(t), fake.NewClientset(node("a", corev1.ConditionTrue))); err != nil {
		t.Errorf("ready node: %v", err)
	}
	err := waitNodesReady(shortCtx(t), fake.NewClientset(node("a", corev1.ConditionTrue), node("b", corev1.ConditionFalse)))
	if err == nil || !strings.Contains(err.Error(), "node b not Ready") {
		t.Errorf("one node not ready: err = %v, want it named", err)
	}
	if err := waitNodesReady(shortCtx(t), fake.NewClientset()); err == nil || !strings.Contains(err.Error(), "no nodes") {
		t.Errorf("no nodes: err = %v", err)
	}
}

func TestPodsRunning(t *testing.T) {
	t.Parallel()
	check := podsRunning("k8s-app=kube-dns")
	for name, tc := range map[string]struct {
		objs    []runtime.Object
		wantErr string
	}{
		"all running": {objs: []runtime.Object{
			pod("dns-1", "kube-dns", corev1.PodRunning, corev1.ConditionTrue),
			pod("dns-2", "kube-dns", corev1.PodRunning, corev1.ConditionTrue),
			pod("other", "kube-proxy", corev1.PodPending, corev1.ConditionFalse),
		}},
		"one pending": {objs: []runtime.Object{
			pod("dns-1", "kube-dns", corev1.PodRunning, corev1.ConditionTrue),
			pod("dns-2", "kube-dns", corev1.PodPending, corev1.ConditionFalse),
		}, wantErr: "dns-2 is Pending"},
		"running, not ready": {objs: []runtime.Object{
			pod("dns-1", "kube-dns", corev1.PodRunning, corev1.ConditionFalse),
		}, wantErr: "dns-1 is Running"},
		"none": {wantErr: "no pods match"},
	} {
		err := check(shortCtx(t), fake.NewClientset(tc.objs...))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: err = %v, want %q", name, err, tc.wantErr)
		}
	}
}

func TestDeploymentAvailable(t *testing.T) {
	t.Parallel()
	dep := func(status corev1.ConditionStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
			Status: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: status},
			}},
		}
	}
	check := deploymentAvailable("kube-system", "metrics-server")
	if err := check(shortCtx(t), fake.NewClientset(dep(corev1.ConditionTrue))); err != nil {
		t.Errorf("available: %v", err)
	}
	if err := check(shortCtx(t), fake.NewClientset(dep(corev1.ConditionFalse))); err == nil {
		t.Error("unavailable: want an error")
	}
	if err := check(shortCtx(t), fake.NewClientset()); err == nil {
		t.Error("missing: want an error")
	}
}

func TestPollStopsWithContext(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := poll(ctx, func(context.Context) (bool, error) { return false, nil })
	if err == nil {
		t.Fatal("poll that never succeeds returned nil")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("poll ignored its context: %s", time.Since(start))
	}
}

func TestShort(t *testing.T) {
	if got := short("kindest/node:v1.37.0@sha256:abc"); got != "kindest/node:v1.37.0" {
		t.Errorf("short = %q", got)
	}
	if got := short("restaurants.local/kind-node:v1.37.2-x"); got != "restaurants.local/kind-node:v1.37.2-x" {
		t.Errorf("short = %q", got)
	}
}

func daemonSet(name string, desired, available, updated int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Generation: 1},
		Status: appsv1.DaemonSetStatus{
			ObservedGeneration: 1, DesiredNumberScheduled: desired,
			NumberAvailable: available, UpdatedNumberScheduled: updated,
		},
	}
}

func TestDaemonSetsAvailable(t *testing.T) {
	t.Parallel()
	check := daemonSetsAvailable("kube-system")
	if err := check(shortCtx(t), fake.NewClientset(daemonSet("kube-proxy", 3, 3, 3), daemonSet("kube-flannel-ds", 3, 3, 3))); err != nil {
		t.Errorf("all available: %v", err)
	}
	for name, ds := range map[string]*appsv1.DaemonSet{
		"one node missing": daemonSet("kube-flannel-ds", 3, 2, 3),
		"old pods":         daemonSet("kube-flannel-ds", 3, 3, 2),
		"nothing desired":  daemonSet("kube-flannel-ds", 0, 0, 0),
	} {
		err := check(shortCtx(t), fake.NewClientset(daemonSet("kube-proxy", 3, 3, 3), ds))
		if err == nil || !strings.Contains(err.Error(), "kube-flannel-ds") {
			t.Errorf("%s: err = %v, want one naming kube-flannel-ds", name, err)
		}
	}
}
