package charts

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// admitted reports whether an ingress rule set lets a pod with podLabels in
// a namespace with nsLabels reach the named container port: the
// NetworkPolicy semantics of ports and from (an empty list matches all).
func admitted(t *testing.T, np *networkingv1.NetworkPolicy, port string, podLabels, nsLabels map[string]string) bool {
	t.Helper()
	for _, rule := range np.Spec.Ingress {
		portOK := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.String() == port && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
				portOK = true
			}
		}
		if !portOK {
			continue
		}
		if len(rule.From) == 0 {
			return true
		}
		for _, peer := range rule.From {
			if peer.IPBlock != nil {
				continue
			}
			podOK, nsOK := peer.PodSelector == nil, peer.NamespaceSelector == nil
			if peer.PodSelector != nil {
				podOK = selects(t, peer.PodSelector, podLabels)
			}
			if peer.NamespaceSelector != nil {
				nsOK = selects(t, peer.NamespaceSelector, nsLabels)
			} else {
				// a podSelector alone means pods of the policy's own namespace
				nsOK = nsOK && nsLabels["kubernetes.io/metadata.name"] == testNamespace
			}
			if podOK && nsOK {
				return true
			}
		}
	}
	return false
}

func selects(t *testing.T, s *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatalf("selector %v: %v", s, err)
	}
	return sel.Matches(labels.Set(l))
}

func TestNetworkPolicyOffByDefault(t *testing.T) {
	if r := render(t, nil); len(r.networkPolicies) != 0 {
		t.Errorf("NetworkPolicy rendered although networkPolicy.enabled is false")
	}
}

func TestNetworkPolicy(t *testing.T) {
	own := map[string]string{"kubernetes.io/metadata.name": testNamespace}
	monitoring := map[string]string{"kubernetes.io/metadata.name": "monitoring"}
	elsewhere := map[string]string{"kubernetes.io/metadata.name": "shop"}
	scraper := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}
	web := map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}
	testPod := func(r *rendered) map[string]string {
		for _, p := range r.testPods {
			return p.Labels
		}
		t.Fatal("no helm test pod rendered")
		return nil
	}
	stranger := map[string]string{"app": "curl"}

	t.Run("relay port open, admin port closed", func(t *testing.T) {
		r := render(t, map[string]any{"networkPolicy": map[string]any{"enabled": true}})
		np := r.networkPolicies[relayName]
		if np == nil {
			t.Fatalf("no NetworkPolicy %q", relayName)
		}
		checkPolicySelectsRelay(t, r, np)
		for _, who := range []struct {
			name    string
			pod, ns map[string]string
		}{{"stranger elsewhere", stranger, elsewhere}, {"helm test pod", testPod(r), own}} {
			if !admitted(t, np, "http", who.pod, who.ns) {
				t.Errorf("%s refused on the relay port", who.name)
			}
			if admitted(t, np, "admin", who.pod, who.ns) {
				t.Errorf("%s admitted on the admin port although metricsFrom is empty", who.name)
			}
		}
	})

	t.Run("peers given", func(t *testing.T) {
		r := render(t, map[string]any{"networkPolicy": map[string]any{"enabled": true, "from": []any{web}, "metricsFrom": []any{scraper}}})
		np := r.networkPolicies[relayName]
		checkPolicySelectsRelay(t, r, np)
		for _, tc := range []struct {
			name         string
			pod, ns      map[string]string
			relay, admin bool
		}{
			{"web pod", map[string]string{"app": "web"}, own, true, false},
			{"helm test pod", testPod(r), own, true, false},
			{"prometheus", map[string]string{"app": "prometheus"}, monitoring, false, true},
			{"stranger", stranger, own, false, false},
			{"web pod of another namespace", map[string]string{"app": "web"}, elsewhere, false, false},
		} {
			if got := admitted(t, np, "http", tc.pod, tc.ns); got != tc.relay {
				t.Errorf("%s on the relay port: admitted %v, want %v", tc.name, got, tc.relay)
			}
			if got := admitted(t, np, "admin", tc.pod, tc.ns); got != tc.admin {
				t.Errorf("%s on the admin port: admitted %v, want %v", tc.name, got, tc.admin)
			}
		}
	})
}

// checkPolicySelectsRelay: the policy governs the relay pods (and only
// them), for ingress, on ports the relay container names.
func checkPolicySelectsRelay(t *testing.T, r *rendered, np *networkingv1.NetworkPolicy) {
	t.Helper()
	relay := r.deployments[relayName]
	if !selects(t, &np.Spec.PodSelector, relay.Spec.Template.Labels) {
		t.Errorf("policy selector %v does not select the relay pods %v", np.Spec.PodSelector, relay.Spec.Template.Labels)
	}
	for _, p := range r.testPods {
		if selects(t, &np.Spec.PodSelector, p.Labels) {
			t.Errorf("policy selects the helm test pod %s", p.Name)
		}
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policyTypes %v, want [Ingress] (egress to the upstream and DNS is left alone)", np.Spec.PolicyTypes)
	}
	c := relayContainer(t, r)
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if findPort(c, p.Port.String()) == nil {
				t.Errorf("policy port %s is not a named port of the relay container", p.Port)
			}
		}
	}
}

func TestNetworkPolicyBadPeers(t *testing.T) {
	for name, peer := range map[string]any{
		"empty peer":           map[string]any{},
		"misspelt selector":    map[string]any{"podSelectr": map[string]any{}},
		"ipBlock without cidr": map[string]any{"ipBlock": map[string]any{"except": []any{"10.0.0.0/8"}}},
	} {
		t.Run(name, func(t *testing.T) {
			msg := renderError(t, map[string]any{"networkPolicy": map[string]any{"enabled": true, "metricsFrom": []any{peer}}}).Error()
			if !strings.Contains(msg, "/networkPolicy/metricsFrom/0") {
				t.Errorf("error does not name /networkPolicy/metricsFrom/0:\n%s", msg)
			}
		})
	}
}

func TestValkeyNetworkPolicy(t *testing.T) {
	if np := render(t, map[string]any{"networkPolicy": map[string]any{"enabled": true}}).networkPolicies[valkeyName]; np != nil {
		t.Error("the NetworkPolicy without Valkey: a Valkey NetworkPolicy rendered")
	}
	// The engine's policy comes with the engine, whatever networkPolicy.enabled says.
	alone := render(t, map[string]any{"valkey": map[string]any{"enabled": true}})
	if alone.networkPolicies[valkeyName] == nil {
		t.Error("Valkey without networkPolicy.enabled: no Valkey NetworkPolicy")
	}
	if alone.networkPolicies[testRelease] != nil {
		t.Error("Valkey without networkPolicy.enabled: the relays' NetworkPolicy rendered")
	}

	r := render(t, map[string]any{
		"networkPolicy": map[string]any{"enabled": true, "from": []any{map[string]any{"podSelector": map[string]any{}}}},
		"valkey":        map[string]any{"enabled": true},
	})
	np := r.networkPolicies[valkeyName]
	if np == nil {
		t.Fatalf("no NetworkPolicy %q with networkPolicy.enabled and valkey.enabled", valkeyName)
	}
	valkey := r.deployments[valkeyName]
	relay := r.deployments[relayName]
	if !selects(t, &np.Spec.PodSelector, valkey.Spec.Template.Labels) {
		t.Errorf("policy selector %v does not select the Valkey pods %v", np.Spec.PodSelector, valkey.Spec.Template.Labels)
	}
	if selects(t, &np.Spec.PodSelector, relay.Spec.Template.Labels) {
		t.Errorf("the Valkey policy selects the relay pods %v", relay.Spec.Template.Labels)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policyTypes %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	c := valkey.Spec.Template.Spec.Containers[0]
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if findPort(c, p.Port.String()) == nil {
				t.Errorf("policy port %s is not a named port of the Valkey container", p.Port)
			}
		}
	}

	own := map[string]string{"kubernetes.io/metadata.name": testNamespace}
	elsewhere := map[string]string{"kubernetes.io/metadata.name": "shop"}
	otherRelease := map[string]string{}
	for k, v := range relay.Spec.Template.Labels {
		otherRelease[k] = v
	}
	otherRelease["app.kubernetes.io/instance"] = "lunch-two"
	var testPod map[string]string
	for _, p := range r.testPods {
		testPod = p.Labels
	}
	for _, tc := range []struct {
		name    string
		pod, ns map[string]string
		want    bool
	}{
		{"a relay pod of the release", relay.Spec.Template.Labels, own, true},
		{"a relay pod of another release", otherRelease, own, false},
		{"the release's relay labels in another namespace", relay.Spec.Template.Labels, elsewhere, false},
		{"the helm test pod", testPod, own, false},
		{"a stranger admitted on the relay port", map[string]string{"app": "curl"}, own, false},
	} {
		if got := admitted(t, np, "redis", tc.pod, tc.ns); got != tc.want {
			t.Errorf("%s on the Valkey port: admitted %v, want %v", tc.name, got, tc.want)
		}
	}
}
