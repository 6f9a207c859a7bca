package charts

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const valkeyName = "restaurants-valkey"

func TestNoSharedCacheByDefault(t *testing.T) {
	r := render(t, nil)
	got := env(relayContainer(t, r))
	for _, name := range []string{"RESTAURANTS_SHARED_CACHE", "RESTAURANTS_SHARED_CACHE_TIMEOUT", "RESTAURANTS_SHARED_CACHE_PASSWORD"} {
		if v, ok := got[name]; ok {
			t.Errorf("%s = %q without a shared cache", name, v)
		}
	}
	if _, ok := r.deployments[valkeyName]; ok {
		t.Error("Valkey rendered although valkey.enabled is false")
	}
}

func TestExternalSharedCache(t *testing.T) {
	r := render(t, map[string]any{"sharedCache": map[string]any{
		"url": "rediss://cache.example.test:6380/2", "existingSecret": "lunch-cache", "existingSecretKey": "pw", "timeout": "80ms",
	}})
	c := relayContainer(t, r)
	got := env(c)
	if got["RESTAURANTS_SHARED_CACHE"] != "rediss://cache.example.test:6380/2" || got["RESTAURANTS_SHARED_CACHE_TIMEOUT"] != "80ms" {
		t.Errorf("shared cache env: %v", got)
	}
	var pw *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "RESTAURANTS_SHARED_CACHE_PASSWORD" {
			pw = &c.Env[i]
		}
	}
	if pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil ||
		pw.ValueFrom.SecretKeyRef.Name != "lunch-cache" || pw.ValueFrom.SecretKeyRef.Key != "pw" || pw.Value != "" {
		t.Fatalf("password env = %+v, want it from secret lunch-cache key pw", pw)
	}
	if _, ok := r.deployments[valkeyName]; ok {
		t.Error("an in-chart Valkey rendered for an external one")
	}
}

func TestInChartValkey(t *testing.T) {
	r := render(t, map[string]any{"valkey": map[string]any{"enabled": true}})
	if got := env(relayContainer(t, r))["RESTAURANTS_SHARED_CACHE"]; got != "redis://restaurants@"+valkeyName+":6379" {
		t.Errorf("relays point at %q, want the in-chart Valkey", got)
	}
	d, ok := r.deployments[valkeyName]
	if !ok {
		t.Fatal("no Valkey Deployment")
	}
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("replicas %d strategy %s, want one engine, recreated", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != "valkey/valkey:8.1" || !slices.Equal(c.Command, []string{"valkey-server"}) {
		t.Errorf("image %s command %v", c.Image, c.Command)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--save  --appendonly no", "--maxmemory 96mb --maxmemory-policy allkeys-lru", "--dir /data", "--port 6379"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if c.StartupProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("Valkey lacks a probe")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("Valkey resources %+v", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.SeccompProfile == nil {
		t.Errorf("Valkey security context %+v is not restricted", sc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("Valkey mounts a service account token")
	}
	if len(spec.Volumes) != 2 || spec.Volumes[0].EmptyDir == nil || spec.Volumes[1].Secret == nil {
		t.Errorf("Valkey volumes %+v, want one emptyDir (no persistence) and the user list", spec.Volumes)
	}
	if _, ok := r.services[valkeyName]; !ok {
		t.Error("no Valkey Service")
	}
}

func TestSharedCacheValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want []string
	}{
		{"both an external URL and the in-chart one", map[string]any{"sharedCache": map[string]any{"url": "redis://cache:6379"}, "valkey": map[string]any{"enabled": true}}, []string{"sharedCache.url", "valkey.enabled", "not both"}},
		{"an http URL", map[string]any{"sharedCache": map[string]any{"url": "http://cache:6379"}}, []string{"/sharedCache/url"}},
		{"a timeout without a unit", map[string]any{"sharedCache": map[string]any{"timeout": "50"}}, []string{"/sharedCache/timeout"}},
		{"a bad secret name", map[string]any{"sharedCache": map[string]any{"existingSecret": "Lunch_Cache"}}, []string{"/sharedCache/existingSecret"}},
		{"maxmemory in MiB", map[string]any{"valkey": map[string]any{"enabled": true, "maxMemory": "96MiB"}}, []string{"/valkey/maxMemory"}},
		{"misspelt valkey key", map[string]any{"valkey": map[string]any{"enable": true}}, []string{"enable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderError(t, tc.vals).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not name %q:\n%s", w, msg)
				}
			}
		})
	}
}
