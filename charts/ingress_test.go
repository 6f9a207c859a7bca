package charts

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/scilifelab/restaurants/internal/app"
	"github.com/scilifelab/restaurants/internal/menu"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
)

func ingressValues(extra map[string]any) map[string]any {
	ing := map[string]any{"enabled": true}
	maps.Copy(ing, extra)
	return map[string]any{"ingress": ing}
}

func theIngress(t *testing.T, r *rendered) *networkingv1.Ingress {
	t.Helper()
	ing, ok := r.ingresses[relayName]
	if !ok || len(r.ingresses) != 1 {
		t.Fatalf("want one Ingress %q, got %v", relayName, slices.Collect(maps.Keys(r.ingresses)))
	}
	return ing
}

func TestNoIngressByDefault(t *testing.T) {
	if r := render(t, nil); len(r.ingresses) != 0 {
		t.Fatalf("an Ingress by default: %v", r.ingresses)
	}
}

// TestIngressRoutesTheAPIPathsUnchanged: /api goes to the relay's http
// port with pathType Prefix and no rewrite, / to the front end, with the
// host, class, TLS secret and annotations given.
func TestIngressRoutesTheAPIPathsUnchanged(t *testing.T) {
	r := render(t, ingressValues(map[string]any{
		"className":   "nginx",
		"host":        "lunch.example.org",
		"tlsSecret":   "lunch-tls",
		"annotations": map[string]any{"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"},
		"frontend":    map[string]any{"serviceName": "lunch-web", "servicePort": 8080},
	}))
	ing := theIngress(t, r)
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingressClassName %v, want nginx", ing.Spec.IngressClassName)
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "lunch-tls" || len(ing.Spec.TLS[0].Hosts) != 1 || ing.Spec.TLS[0].Hosts[0] != "lunch.example.org" {
		t.Errorf("tls %+v", ing.Spec.TLS)
	}
	for k := range ing.Annotations {
		if strings.Contains(k, "rewrite") {
			t.Errorf("annotation %s: the routing must need no rewrite", k)
		}
	}
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "30" {
		t.Errorf("annotations %v", ing.Annotations)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "lunch.example.org" || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("rules %+v", ing.Spec.Rules)
	}
	paths := ing.Spec.Rules[0].HTTP.Paths
	if len(paths) != 2 {
		t.Fatalf("paths %+v, want /api and /", paths)
	}
	relaySvc := r.services[relayName]
	if relaySvc == nil {
		t.Fatalf("no Service %s", relayName)
	}
	api := paths[0]
	if api.Path != "/api" || api.PathType == nil || *api.PathType != networkingv1.PathTypePrefix ||
		api.Backend.Service == nil || api.Backend.Service.Name != relaySvc.Name || api.Backend.Service.Port.Name != "http" {
		t.Errorf("/api route %+v", api)
	}
	named := false
	for _, p := range relaySvc.Spec.Ports {
		named = named || p.Name == api.Backend.Service.Port.Name
	}
	if !named {
		t.Errorf("the relay's Service has no port named %q", api.Backend.Service.Port.Name)
	}
	fe := paths[1]
	if fe.Path != "/" || fe.Backend.Service == nil || fe.Backend.Service.Name != "lunch-web" || fe.Backend.Service.Port.Number != 8080 {
		t.Errorf("front end route %+v", fe)
	}
}

// TestIngressPutsTheRelayAtTheAPIsHostRoot: with the Ingress the relay's
// derived upstream is the host root, and the helm test asks /api/...
func TestIngressPutsTheRelayAtTheAPIsHostRoot(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"public API", nil, "https://menu.dckube.scilifelab.se/"},
		{"stand-in", map[string]any{"menuApi": map[string]any{"enabled": true}}, "http://" + menuAPIName + ":8080/"},
		{"explicit host root", map[string]any{"relay": map[string]any{"upstream": "https://menus.example.test/"}}, "https://menus.example.test/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := ingressValues(nil)
			maps.Copy(vals, tc.vals)
			r := render(t, vals)
			if got := env(relayContainer(t, r))["RESTAURANTS_UPSTREAM"]; got != tc.want {
				t.Errorf("upstream %q, want %q", got, tc.want)
			}
			for _, pod := range r.testPods {
				if script := strings.Join(pod.Spec.Containers[0].Command, " "); !strings.Contains(script, ":8000/api/restaurant\"") {
					t.Errorf("the helm test does not ask /api/restaurant:\n%s", script)
				}
			}
		})
	}
}

func TestIngressBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want []string
	}{
		{"upstream at /api/", map[string]any{"ingress": map[string]any{"enabled": true}, "relay": map[string]any{"upstream": "https://menu.dckube.scilifelab.se/api/"}},
			[]string{"relay.upstream", "host root"}},
		{"tls without host", ingressValues(map[string]any{"tlsSecret": "lunch-tls"}), []string{"ingress.tlsSecret needs ingress.host"}},
		{"path without slash", ingressValues(map[string]any{"paths": []any{"api"}}), []string{"/ingress/paths/0"}},
		{"no path", ingressValues(map[string]any{"paths": []any{}}), []string{"/ingress/paths"}},
		{"host in capitals", ingressValues(map[string]any{"host": "Lunch.Example.org"}), []string{"/ingress/host"}},
		{"host with a port", ingressValues(map[string]any{"host": "lunch.example.org:443"}), []string{"/ingress/host"}},
		{"front end port", ingressValues(map[string]any{"frontend": map[string]any{"serviceName": "web", "servicePort": 0}}), []string{"/ingress/frontend/servicePort"}},
		{"misspelt key", ingressValues(map[string]any{"tls": []any{}}), []string{"tls"}},
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

// TestIngressSettingsServeTheAPIPaths runs the real relay with the
// environment the chart gives it behind the Ingress (the stand-in's Service
// name replaced by a stand-in on loopback) and asks what the Ingress
// forwards: /api/restaurant and a menu, and the helm test's path.
func TestIngressSettingsServeTheAPIPaths(t *testing.T) {
	_, api := relaytest.StandIn(t, menuapi.Options{})
	e := env(relayContainer(t, render(t, map[string]any{"ingress": map[string]any{"enabled": true}, "menuApi": map[string]any{"enabled": true}})))
	up, err := url.Parse(e["RESTAURANTS_UPSTREAM"])
	if err != nil {
		t.Fatal(err)
	}
	up.Host = strings.TrimPrefix(api.URL, "http://")
	e["RESTAURANTS_UPSTREAM"] = up.String()
	e["RESTAURANTS_LISTEN"], e["RESTAURANTS_ADMIN_LISTEN"] = "127.0.0.1:0", "127.0.0.1:1"
	cfg, err := app.ParseFlags(nil, func(k string) (string, bool) { v, ok := e[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatalf("the relay refuses the chart's environment: %v", err)
	}
	cfg.DrainDelay = 0
	base := relaytest.StartConfig(t, cfg).URL
	resp, err := http.Get(base + "/api/restaurant")
	if err != nil {
		t.Fatal(err)
	}
	var list menu.RestaurantList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(list.Restaurants) != 18 {
		t.Fatalf("GET /api/restaurant through the relay: %d, %d restaurants, %v", resp.StatusCode, len(list.Restaurants), err)
	}
	resp, err = http.Get(base + "/api/restaurant/dufva")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") == "" {
		t.Fatalf("GET /api/restaurant/dufva through the relay: %d, X-Cache %q", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
}
