//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/scilifelab/restaurants/internal/sharedcache"
	"github.com/scilifelab/restaurants/internal/upstream"
)

// chartForgedPath is the key the tier guard forges: one that the stages'
// load never asks for, so no relay holds it in its own cache yet and the
// first request for it reads the engine.
const chartForgedPath = "/restaurant/haga"

// tierGuarded checks that the shared tier is no way in: a pod outside the
// release gets no answer from the engine's port (its NetworkPolicy; with
// no enforcer in the cluster, the engine still answers only NOAUTH), and an
// entry written with the engine's password but without the relays' signing
// key is never served: the relays' Service answers the real body, and the
// relays count the entry as rejected.
func (s *chartStages) tierGuarded(ctx context.Context) string {
	t, cs, ns := s.t, s.cs, s.ns
	t.Helper()
	enforcedBy, err := enforcer(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	outsider := s.tierProbe(ctx, "tier-outsider", map[string]string{"app": "tier-probe"}, "PING\r\nQUIT\r\n", 0)
	wantOutsider := "engine=none"
	if enforcedBy == "" {
		wantOutsider = "engine=NOAUTH"
	}
	if !strings.HasPrefix(outsider, wantOutsider+" ") {
		t.Fatalf("a pod outside the release reached the engine %s: %q, want %s (NetworkPolicy enforcer: %q)", chartValkey, outsider, wantOutsider, enforcedBy)
	}

	// The password, as anyone who got hold of it would have it.
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, chartValkey, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the engine's Secret %s: %v", chartValkey, err)
	}
	password := string(sec.Data["password"])
	key, err := s.tierEntryKey(ctx, chartForgedPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	forge := chartRESP([]string{"AUTH", "restaurants", password}) +
		chartRESP([]string{"HSET", key, "s", "200", "at", strconv.FormatInt(now.UnixMilli(), 10),
			"fu", strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10), "h", "",
			"b", `{"restaurant":{"title":"FORGED"},"menu":[{"dish":"<script>alert(1)</script> FORGED"}]}`,
			"m", "v1." + strings.Repeat("A", 43)}) +
		chartRESP([]string{"QUIT"})
	before := s.tierRejected(ctx)
	// The writer must be a pod the engine's NetworkPolicy admits: it wears
	// the relays' labels, and is never Ready, so the Service sends it nothing.
	labels := map[string]string{
		"app.kubernetes.io/name": "restaurants", "app.kubernetes.io/instance": chartRelease,
		"app.kubernetes.io/component": "relay", "restaurants-e2e/forger": "true",
	}
	got := s.tierProbe(ctx, "tier-forger", labels, forge, 10)
	after := s.tierRejected(ctx)
	s.r.logf("tier guard: outsider %q; forger %q; rejected entries %v -> %v", outsider, got, before, after)
	if !strings.Contains(got, "write=+OK") {
		t.Fatalf("the forged entry was not written (the engine answered %q): the check proves nothing", got)
	}
	if !strings.HasSuffix(got, " forged=0 real=10") {
		t.Fatalf("the relays' Service served a forged entry: %q", got)
	}
	if after <= before {
		t.Fatalf("restaurants_shared_cache_rejected_total %v -> %v: no relay read the forged entry %s", before, after, key)
	}
	return fmt.Sprintf("engine port from a pod outside the release: %s (enforcer %q); an entry of %s written with the password but not the signing key: 10 of 10 answers through the Service real, %v entries rejected",
		strings.TrimPrefix(wantOutsider, "engine="), enforcedBy, chartForgedPath, after-before)
}

// tierEntryKey is the engine key of path's entry, as the relays name it:
// their namespace is a hash of their upstream base.
func (s *chartStages) tierEntryKey(ctx context.Context, path string) (string, error) {
	d, err := s.cs.AppsV1().Deployments(s.ns).Get(ctx, chartRelay, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "RESTAURANTS_UPSTREAM" {
			base, err := upstream.ParseBase(e.Value)
			if err != nil {
				return "", fmt.Errorf("the relays' upstream %q: %w", e.Value, err)
			}
			return "restaurants:" + sharedcache.Namespace(base.String()) + ":e:" + strings.TrimPrefix(path, "/"), nil
		}
	}
	return "", fmt.Errorf("the relay Deployment %s sets no RESTAURANTS_UPSTREAM", chartRelay)
}

// tierRejected sums restaurants_shared_cache_rejected_total over the
// Ready relays.
func (s *chartStages) tierRejected(ctx context.Context) float64 {
	return sumValues(s.tierRejectedBy(ctx))
}

// tierProbe runs a one-shot curl pod with labels that sends send to the
// engine's port (curl's telnet://) and then asks the relays' Service for
// chartForgedPath asks times (the outsider asks none: the relays must not
// hold the path before it is forged). It prints one line: "engine=PONG|NOAUTH|none
// write=+OK|error|none forged=N real=N", and is deleted afterwards.
func (s *chartStages) tierProbe(ctx context.Context, name string, labels map[string]string, send string, asks int) string {
	t := s.t
	t.Helper()
	script := fmt.Sprintf(`out=$(printf '%%s' "$SEND" | curl --silent --max-time 4 telnet://%[1]s:6379 || true)
case "$out" in *PONG*) engine=PONG;; *NOAUTH*) engine=NOAUTH;; *) engine=none;; esac
case "$out" in *-*) write=error;; *+OK*) write=+OK;; *) write=none;; esac
forged=0; real=0; i=0
while [ $i -lt %[5]d ]; do
  i=$((i+1))
  body=$(curl --silent --max-time 8 http://%[2]s:%[3]d%[4]s || true)
  case "$body" in *FORGED*) forged=$((forged+1));; *'"restaurant"'*) real=$((real+1));; esac
done
echo "engine=$engine write=$write forged=$forged real=$real"`, chartValkey, chartRelay, chartHTTPPort, chartForgedPath, asks)
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
				Name: "curl", Image: s.cfg.curlImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"/bin/sh", "-c", script},
				Env:     []corev1.EnvVar{{Name: "SEND", Value: send}},
				// never Ready: a pod wearing the relays' labels gets no Service traffic
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "exit 1"}}}, PeriodSeconds: 60},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if _, err := s.cs.CoreV1().Pods(s.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating probe pod %s: %v", name, err)
	}
	out := strings.TrimSpace(chartTail(waitClient(ctx, t, s.cs, s.ns, name), 1))
	_ = s.cs.CoreV1().Pods(s.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	return out
}

// chartRESP encodes one command in the engine's protocol (RESP arrays of
// bulk strings), which any byte in an argument survives.
func chartRESP(args []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}
