package charts

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Names of the release's objects with testRelease.
const (
	relayName   = "restaurants"
	menuAPIName = "restaurants-menu-api"
)

func TestDefaultObjects(t *testing.T) {
	r := render(t, nil)
	want := []string{"Deployment", "HorizontalPodAutoscaler", "Pod", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"}
	got := slices.Sorted(slices.Values(r.kinds))
	if !slices.Equal(got, want) {
		t.Errorf("default objects: got kinds %v, want %v", got, want)
	}
	if _, ok := r.deployments[relayName]; !ok {
		t.Fatalf("no Deployment %q; have %v", relayName, slices.Collect(maps.Keys(r.deployments)))
	}
	if len(r.serviceMonitors) != 0 {
		t.Error("ServiceMonitor rendered although serviceMonitor.enabled is false")
	}
	if _, ok := r.deployments[menuAPIName]; ok {
		t.Error("stand-in Deployment rendered although menuApi.enabled is false")
	}
}

func TestLabelsAndNames(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			for _, m := range r.meta {
				if errs := validation.IsDNS1123Label(m.Name); len(errs) > 0 {
					t.Errorf("object name %q: %v", m.Name, errs)
				}
				for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"} {
					if m.Labels[k] == "" {
						t.Errorf("%s: label %s missing", m.Name, k)
					}
				}
				if got := m.Labels["app.kubernetes.io/instance"]; got != testRelease {
					t.Errorf("%s: app.kubernetes.io/instance = %q, want %q", m.Name, got, testRelease)
				}
				for k, v := range m.Labels {
					if errs := validation.IsQualifiedName(k); len(errs) > 0 {
						t.Errorf("%s: label key %q: %v", m.Name, k, errs)
					}
					if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
						t.Errorf("%s: label %s value %q: %v", m.Name, k, v, errs)
					}
				}
			}
		})
	}
}

// valueSets are the value sets every structural test renders.
func valueSets() map[string]map[string]any {
	return map[string]map[string]any{
		"defaults": nil,
		"stand-in": {"menuApi": map[string]any{"enabled": true}},
		"no-autoscaling": {
			"autoscaling":         map[string]any{"enabled": false},
			"podDisruptionBudget": map[string]any{"enabled": false},
			"replicaCount":        3,
		},
		"everything": {
			"menuApi":        map[string]any{"enabled": true, "latency": "200ms", "errorRate": 0.1},
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"autoscaling":    map[string]any{"targetMemoryUtilizationPercentage": 80},
			"serviceAccount": map[string]any{"create": false},
			"podLabels":      map[string]any{"team": "lunch"},
			"valkey":         map[string]any{"enabled": true},
			"networkPolicy":  map[string]any{"enabled": true},
		},
		"monitoring": {
			"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"prometheusRule":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"grafanaDashboard": map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "Lunch"}},
		},
	}
}

func TestSelectorsMatch(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			for _, d := range r.deployments {
				sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
				if err != nil {
					t.Fatalf("%s: selector: %v", d.Name, err)
				}
				if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("%s: selector %v does not match its pod labels %v", d.Name, sel, d.Spec.Template.Labels)
				}
				// No other Deployment's pods may match this selector.
				for _, other := range r.deployments {
					if other.Name != d.Name && sel.Matches(labels.Set(other.Spec.Template.Labels)) {
						t.Errorf("%s: selector %v also matches pods of %s", d.Name, sel, other.Name)
					}
				}
			}
			for _, s := range r.services {
				d, ok := r.deployments[s.Name]
				if !ok {
					t.Fatalf("Service %s has no Deployment of the same name", s.Name)
				}
				if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("Service %s selector %v does not match pods %v", s.Name, s.Spec.Selector, d.Spec.Template.Labels)
				}
				for _, p := range s.Spec.Ports {
					if findPort(d.Spec.Template.Spec.Containers[0], p.TargetPort.String()) == nil {
						t.Errorf("Service %s port %s targets %q, which the container does not expose", s.Name, p.Name, p.TargetPort.String())
					}
				}
			}
			relay := r.deployments[relayName]
			for _, p := range r.pdbs {
				sel, _ := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if !sel.Matches(labels.Set(relay.Spec.Template.Labels)) {
					t.Errorf("PDB %s selector %v does not match relay pods", p.Name, sel)
				}
			}
			for _, tsc := range relay.Spec.Template.Spec.TopologySpreadConstraints {
				sel, _ := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
				if !sel.Matches(labels.Set(relay.Spec.Template.Labels)) {
					t.Errorf("topology spread selector %v does not match relay pods", sel)
				}
			}
			for _, sm := range r.serviceMonitors {
				sel, _ := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
				svc := r.services[relayName]
				if !sel.Matches(labels.Set(svc.Labels)) {
					t.Errorf("ServiceMonitor selector %v does not match the relay Service's labels %v", sel, svc.Labels)
				}
				if menu, ok := r.services[menuAPIName]; ok && sel.Matches(labels.Set(menu.Labels)) {
					t.Errorf("ServiceMonitor selector %v also matches the stand-in Service", sel)
				}
			}
		})
	}
}

func findPort(c corev1.Container, name string) *corev1.ContainerPort {
	for i, p := range c.Ports {
		if p.Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

func TestRelayProbes(t *testing.T) {
	r := render(t, map[string]any{"ports": map[string]any{"admin": 9191}})
	c := relayContainer(t, r)
	admin := findPort(c, "admin")
	if admin == nil || admin.ContainerPort != 9191 {
		t.Fatalf("admin container port = %+v, want 9191", admin)
	}
	if got := env(c)["RESTAURANTS_ADMIN_LISTEN"]; got != ":9191" {
		t.Errorf("RESTAURANTS_ADMIN_LISTEN = %q, want :9191", got)
	}
	for _, tc := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if tc.probe == nil || tc.probe.HTTPGet == nil {
			t.Errorf("%s probe: missing or not httpGet: %+v", tc.name, tc.probe)
			continue
		}
		if tc.probe.HTTPGet.Path != tc.path || tc.probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe: GET %s on port %s, want GET %s on port admin", tc.name, tc.probe.HTTPGet.Path, tc.probe.HTTPGet.Port.String(), tc.path)
		}
	}
}

func TestResourcesSet(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			for _, d := range r.deployments {
				for _, c := range d.Spec.Template.Spec.Containers {
					for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
						if req.IsZero() || lim.IsZero() {
							t.Errorf("%s/%s: %s request %v and limit %v must both be set", d.Name, c.Name, res, req.String(), lim.String())
						} else if req.Cmp(lim) > 0 {
							t.Errorf("%s/%s: %s request %v above limit %v", d.Name, c.Name, res, req.String(), lim.String())
						}
					}
				}
			}
		})
	}
}

// TestRestrictedPodSecurity checks every pod the chart makes, the helm test
// pod included, against the Pod Security "restricted" profile's rules.
func TestRestrictedPodSecurity(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			pods := map[string]corev1.PodSpec{}
			for _, d := range r.deployments {
				pods["Deployment "+d.Name] = d.Spec.Template.Spec
			}
			for _, p := range r.testPods {
				pods["Pod "+p.Name] = p.Spec
			}
			if len(pods) < 2 {
				t.Fatalf("only %d pod specs rendered", len(pods))
			}
			for what, spec := range pods {
				checkRestricted(t, what, spec)
			}
		})
	}
}

func checkRestricted(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", what)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: uses host namespaces", what)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod runAsNonRoot must be true", what)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", what)
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		t.Errorf("%s: pod runs as uid 0", what)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s/%s: no securityContext", what, c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s/%s: allowPrivilegeEscalation must be false", what, c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: readOnlyRootFilesystem must be true", what, c.Name)
		}
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s/%s: runAsNonRoot must be true", what, c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s/%s: runs as uid 0", what, c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s/%s: privileged", what, c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s/%s: capabilities must drop ALL and add none: %+v", what, c.Name, sc.Capabilities)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s/%s: seccompProfile must be RuntimeDefault", what, c.Name)
		}
	}
}

func relayContainer(t *testing.T, r *rendered) corev1.Container {
	t.Helper()
	d, ok := r.deployments[relayName]
	if !ok {
		t.Fatalf("no relay Deployment %q", relayName)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "relay" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named relay", relayName)
	return corev1.Container{}
}

// env returns the container's plain environment variables.
func env(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// relaySettings maps each relay value to the flag it sets and a test value
// that differs from the chart's default. relayFlags_test.go checks that the
// relay has exactly these flags.
var relaySettings = []struct {
	value string // key under .Values.relay
	flag  string // relay flag
	set   any    // value the test sets
	want  string // environment value the container must get
}{
	{"upstream", "upstream", "http://menus.example.test/api/", "http://menus.example.test/api/"},
	{"cacheTTL", "cache-ttl", "42s", "42s"},
	{"maxTTL", "max-ttl", "12h", "12h"},
	{"fixedTTL", "fixed-ttl", true, "true"},
	{"warm", "warm", true, "true"},
	{"negativeTTL", "negative-ttl", "3s", "3s"},
	{"staleWhileRevalidate", "stale-while-revalidate", "45s", "45s"},
	{"staleIfError", "stale-if-error", "1h30m", "1h30m"},
	{"cacheMaxMB", "cache-max-mb", 96, "96"},
	{"upstreamTimeout", "upstream-timeout", "2500ms", "2500ms"},
	{"upstreamMaxInflight", "upstream-max-inflight", 7, "7"},
	{"upstreamRate", "upstream-rate", 2.5, "2.5"},
	{"upstreamBurst", "upstream-burst", 9, "9"},
	{"upstreamBackoff", "upstream-backoff", "3s", "3s"},
	{"upstreamBackoffMax", "upstream-backoff-max", "5m", "5m"},
	{"forwardQuery", "forward-query", true, "true"},
	{"maxBody", "max-body", "2MiB", "2MiB"},
	{"drainDelay", "drain-delay", "12s", "12s"},
	{"shutdownTimeout", "shutdown-timeout", "7s", "7s"},
	{"logLevel", "log-level", "debug", "debug"},
	{"logFormat", "log-format", "text", "text"},
	{"pprof", "pprof", true, "true"},
	{"corsOrigins", "cors-origins", "https://lunch.example.test", "https://lunch.example.test"},
}

// envName is the environment variable envflag reads for a relay flag.
func envName(flag string) string {
	return "RESTAURANTS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func TestEveryRelaySettingReachesTheContainer(t *testing.T) {
	relay := map[string]any{"extraArgs": []any{"--version"}, "extraEnv": []any{map[string]any{"name": "EXTRA", "value": "1"}}}
	for _, s := range relaySettings {
		relay[s.value] = s.set
	}
	r := render(t, map[string]any{
		"relay":                         relay,
		"ports":                         map[string]any{"http": 8123, "admin": 9123},
		"terminationGracePeriodSeconds": 21,
	})
	c := relayContainer(t, r)
	got := env(c)
	for _, s := range relaySettings {
		if got[envName(s.flag)] != s.want {
			t.Errorf("relay.%s = %v: container env %s = %q, want %q", s.value, s.set, envName(s.flag), got[envName(s.flag)], s.want)
		}
	}
	for k, want := range map[string]string{"RESTAURANTS_LISTEN": ":8123", "RESTAURANTS_ADMIN_LISTEN": ":9123", "EXTRA": "1"} {
		if got[k] != want {
			t.Errorf("env %s = %q, want %q", k, got[k], want)
		}
	}
	if !slices.Equal(c.Args, []string{"--version"}) {
		t.Errorf("args = %q, want [--version]", c.Args)
	}
	if findPort(c, "http").ContainerPort != 8123 {
		t.Errorf("http container port = %d, want 8123", findPort(c, "http").ContainerPort)
	}
	// + listen, admin-listen, EXTRA and the admin token from its Secret
	if n := len(c.Env); n != len(relaySettings)+4 {
		t.Errorf("container has %d env vars, want %d: %v", n, len(relaySettings)+4, got)
	}
	d := r.deployments[relayName]
	if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 21 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 21", got)
	}
}

func TestEmptySettingsKeepTheRelayDefaults(t *testing.T) {
	r := render(t, nil)
	got := env(relayContainer(t, r))
	for _, name := range []string{"RESTAURANTS_NEGATIVE_TTL", "RESTAURANTS_STALE_WHILE_REVALIDATE", "RESTAURANTS_CACHE_MAX_MB", "RESTAURANTS_UPSTREAM_MAX_INFLIGHT", "RESTAURANTS_MAX_BODY"} {
		if v, ok := got[name]; ok {
			t.Errorf("%s = %q set although its value is empty", name, v)
		}
	}
	if got["RESTAURANTS_UPSTREAM"] != "https://menu.dckube.scilifelab.se/api/" {
		t.Errorf("default upstream = %q, want the public API", got["RESTAURANTS_UPSTREAM"])
	}
}

func TestGracePeriodExceedsDrainAndShutdown(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			c := relayContainer(t, r)
			drain, err := time.ParseDuration(env(c)["RESTAURANTS_DRAIN_DELAY"])
			if err != nil {
				t.Fatalf("RESTAURANTS_DRAIN_DELAY: %v", err)
			}
			shutdown, err := time.ParseDuration(env(c)["RESTAURANTS_SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("RESTAURANTS_SHUTDOWN_TIMEOUT: %v", err)
			}
			grace := time.Duration(*r.deployments[relayName].Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
			if grace <= drain+shutdown {
				t.Errorf("terminationGracePeriodSeconds %v not above drain delay %v plus shutdown timeout %v", grace, drain, shutdown)
			}
		})
	}
}

func TestRollingUpdateKeepsCapacity(t *testing.T) {
	d := render(t, nil).deployments[relayName]
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() < 1 {
		t.Errorf("strategy = %+v, want RollingUpdate with maxUnavailable 0 and a surge", d.Spec.Strategy)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topologySpreadConstraints")
	}
}

func TestAutoscaling(t *testing.T) {
	r := render(t, nil)
	hpa, ok := r.hpas[relayName]
	if !ok {
		t.Fatal("no HorizontalPodAutoscaler by default")
	}
	d := r.deployments[relayName]
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment sets replicas %d although the HPA owns them", *d.Spec.Replicas)
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HPA target = %+v, want apps/v1 Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas < 2 {
		t.Errorf("HPA replicas min %v max %d, want min 2", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if got := resourceTargets(hpa); fmt.Sprint(got) != "map[cpu:70]" {
		t.Errorf("HPA metrics = %v, want cpu at 70%%", got)
	}
	if b := hpa.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds != 300 {
		t.Errorf("HPA scale-down stabilisation = %+v, want 300 s", hpa.Spec.Behavior)
	}
	if _, ok := r.pdbs[relayName]; !ok {
		t.Error("no PodDisruptionBudget by default")
	}
	if cpu := relayContainer(t, r).Resources.Requests[corev1.ResourceCPU]; cpu.IsZero() {
		t.Error("CPU utilisation target without a CPU request")
	}

	r = render(t, map[string]any{"autoscaling": map[string]any{"targetCPUUtilizationPercentage": 55, "targetMemoryUtilizationPercentage": 80, "minReplicas": 3, "maxReplicas": 4}})
	hpa = r.hpas[relayName]
	if got := resourceTargets(hpa); fmt.Sprint(got) != "map[cpu:55 memory:80]" {
		t.Errorf("HPA metrics = %v, want cpu 55%% and memory 80%%", got)
	}
	if *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 4 {
		t.Errorf("HPA replicas %d..%d, want 3..4", *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}

	r = render(t, map[string]any{"autoscaling": map[string]any{"enabled": false}, "replicaCount": 3})
	if len(r.hpas) != 0 {
		t.Error("HPA rendered although autoscaling.enabled is false")
	}
	if d := r.deployments[relayName]; d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
}

func resourceTargets(hpa *autoscalingv2.HorizontalPodAutoscaler) map[string]int32 {
	m := map[string]int32{}
	for _, ms := range hpa.Spec.Metrics {
		if ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			m[string(ms.Resource.Name)] = *ms.Resource.Target.AverageUtilization
		}
	}
	return m
}

func TestServicePorts(t *testing.T) {
	s := render(t, nil).services[relayName]
	got := map[string]int32{}
	for _, p := range s.Spec.Ports {
		got[p.Name] = p.Port
	}
	if fmt.Sprint(got) != "map[http:8000 metrics:9090]" {
		t.Errorf("Service ports = %v, want http 8000 and metrics 9090", got)
	}
	if s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type = %s, want ClusterIP", s.Spec.Type)
	}
}

func TestServiceAccount(t *testing.T) {
	r := render(t, nil)
	sa, ok := r.serviceAccounts[relayName]
	if !ok {
		t.Fatal("no ServiceAccount by default")
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount must not automount its token")
	}
	if got := r.deployments[relayName].Spec.Template.Spec.ServiceAccountName; got != sa.Name {
		t.Errorf("serviceAccountName = %q, want %q", got, sa.Name)
	}
	r = render(t, map[string]any{"serviceAccount": map[string]any{"create": false}})
	if len(r.serviceAccounts) != 0 {
		t.Error("ServiceAccount rendered although serviceAccount.create is false")
	}
	if got := r.deployments[relayName].Spec.Template.Spec.ServiceAccountName; got != "default" {
		t.Errorf("serviceAccountName = %q, want default", got)
	}
}

func TestServiceMonitor(t *testing.T) {
	r := render(t, map[string]any{"serviceMonitor": map[string]any{"enabled": true, "interval": "15s", "labels": map[string]any{"release": "prom"}}})
	sm, ok := r.serviceMonitors[relayName]
	if !ok {
		t.Fatal("no ServiceMonitor although serviceMonitor.enabled")
	}
	if sm.Labels["release"] != "prom" {
		t.Errorf("ServiceMonitor labels = %v, want release=prom among them", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "15s" {
		t.Errorf("ServiceMonitor endpoints = %+v, want port metrics path /metrics every 15s", sm.Spec.Endpoints)
	}
}

func TestStandInUpstream(t *testing.T) {
	r := render(t, map[string]any{"menuApi": map[string]any{"enabled": true, "latency": "150ms", "errorRate": 0.25, "fault": "429", "port": 8081, "extraArgs": []any{"--jitter=5ms"}}})
	d, ok := r.deployments[menuAPIName]
	if !ok {
		t.Fatal("no stand-in Deployment although menuApi.enabled")
	}
	svc, ok := r.services[menuAPIName]
	if !ok {
		t.Fatal("no stand-in Service although menuApi.enabled")
	}
	if svc.Spec.Ports[0].Port != 8081 {
		t.Errorf("stand-in Service port = %d, want 8081", svc.Spec.Ports[0].Port)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Command, []string{"/usr/local/bin/menu-api"}) || !slices.Equal(c.Args, []string{"--jitter=5ms"}) {
		t.Errorf("stand-in command %q args %q", c.Command, c.Args)
	}
	wantEnv := map[string]string{"MENU_API_LISTEN": ":8081", "MENU_API_LATENCY": "150ms", "MENU_API_ERROR_RATE": "0.25", "MENU_API_FAULT": "429"}
	if got := env(c); !maps.Equal(got, wantEnv) {
		t.Errorf("stand-in env = %v, want %v", got, wantEnv)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/-/healthz" {
			t.Errorf("stand-in %s probe = %+v, want GET /-/healthz", name, p)
		}
	}
	if got := env(relayContainer(t, r))["RESTAURANTS_UPSTREAM"]; got != "http://restaurants-menu-api:8081/api/" {
		t.Errorf("relay upstream with the stand-in = %q, want http://restaurants-menu-api:8081/api/", got)
	}
	r = render(t, map[string]any{"menuApi": map[string]any{"enabled": true}, "relay": map[string]any{"upstream": "http://elsewhere.test/api/"}})
	if got := env(relayContainer(t, r))["RESTAURANTS_UPSTREAM"]; got != "http://elsewhere.test/api/" {
		t.Errorf("relay.upstream set: upstream = %q, want it to win over the stand-in", got)
	}
}

func TestHelmTestPod(t *testing.T) {
	r := render(t, map[string]any{"test": map[string]any{"image": map[string]any{"repository": "restaurants-curl", "tag": "dev"}}})
	p, ok := r.testPods[relayName+"-test"]
	if !ok {
		t.Fatalf("no helm test pod; have %v", slices.Collect(maps.Keys(r.testPods)))
	}
	if p.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("test pod hook annotation = %q, want test", p.Annotations["helm.sh/hook"])
	}
	if p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod restartPolicy = %s, want Never", p.Spec.RestartPolicy)
	}
	c := p.Spec.Containers[0]
	if c.Image != "restaurants-curl:dev" {
		t.Errorf("test image = %q, want restaurants-curl:dev", c.Image)
	}
	script := strings.Join(c.Command, " ")
	for _, want := range []string{
		"http://restaurants.lunch.svc.cluster.local:8000/restaurant", // Service DNS name, namespace, port, path
		"200 application/json",
		"%header{x-cache}",
		"200 HIT",
		"exit 1",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("test script lacks %q:\n%s", want, script)
		}
	}
	if d := render(t, nil).testPods[relayName+"-test"].Spec.Containers[0].Image; d != "curlimages/curl:8.11.1" {
		t.Errorf("default test image = %q, want curlimages/curl", d)
	}
}

func TestQuantitiesParse(t *testing.T) {
	// A memory limit below a cache size would get the relay OOM-killed.
	r := render(t, map[string]any{"relay": map[string]any{"cacheMaxMB": 64}})
	lim := relayContainer(t, r).Resources.Limits[corev1.ResourceMemory]
	if lim.Cmp(resource.MustParse("64Mi")) <= 0 {
		t.Errorf("memory limit %s not above a 64 MB cache", lim.String())
	}
}
