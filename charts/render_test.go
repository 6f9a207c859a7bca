package charts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is this directory: the chart's Chart.yaml sits beside the tests.
const chartDir = "."

// Release name and namespace the tests render with.
const (
	testRelease   = "restaurants"
	testNamespace = "lunch"
)

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the
// chart writes; decoding it strictly catches misspelt fields.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// rendered holds the objects of one rendering, decoded into their API types.
type rendered struct {
	manifest        string
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*serviceMonitor
	prometheusRules map[string]*prometheusRule
	configMaps      map[string]*corev1.ConfigMap
	ingresses       map[string]*networkingv1.Ingress
	networkPolicies map[string]*networkingv1.NetworkPolicy
	testPods        map[string]*corev1.Pod
	secrets         map[string]*corev1.Secret
	// meta lists every object's metadata, hooks included.
	meta []metav1.ObjectMeta
	// kinds lists every object's kind, hooks included, in rendering order.
	kinds []string
}

func newRendered(manifest string) *rendered {
	return &rendered{
		manifest:        manifest,
		deployments:     map[string]*appsv1.Deployment{},
		services:        map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		hpas:            map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:            map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*serviceMonitor{},
		prometheusRules: map[string]*prometheusRule{},
		configMaps:      map[string]*corev1.ConfigMap{},
		ingresses:       map[string]*networkingv1.Ingress{},
		networkPolicies: map[string]*networkingv1.NetworkPolicy{},
		testPods:        map[string]*corev1.Pod{},
		secrets:         map[string]*corev1.Secret{},
	}
}

// loadChart loads the chart the way helm does, honouring .helmignore.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("loading chart: %v", err)
	}
	return ch
}

// install runs a client-only dry-run install, the way `helm install
// --dry-run=client` and `helm template` do: schema validation, template
// rendering and the manifest's parsing, with no cluster.
func install(t *testing.T, namespace string, vals map[string]any) (*release.Release, error) {
	t.Helper()
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	client := action.NewInstall(cfg)
	client.DryRunStrategy = action.DryRunClient
	client.ReleaseName = testRelease
	client.Namespace = namespace
	client.Replace = true
	// Helm's offline default is Kubernetes 1.20, below the chart's
	// kubeVersion; render for the Kubernetes of go.mod's API types (and of
	// the kind e2e's node image).
	kv, err := common.ParseKubeVersion("v1.37.0")
	if err != nil {
		return nil, err
	}
	client.KubeVersion = kv
	rel, err := client.Run(loadChart(t), vals)
	if err != nil {
		return nil, err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("install returned %T, want *release.Release", rel)
	}
	return r, nil
}

// render installs with vals and decodes every object strictly; any error fails the test.
func render(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	rel, err := install(t, testNamespace, vals)
	if err != nil {
		t.Fatalf("rendering chart with %v: %v", vals, err)
	}
	r := newRendered(rel.Manifest)
	docs := splitDocuments(rel.Manifest)
	for _, h := range rel.Hooks {
		docs = append(docs, h.Manifest)
	}
	for _, doc := range docs {
		if err := r.add(doc); err != nil {
			t.Fatalf("decoding rendered object: %v\n%s", err, doc)
		}
	}
	return r
}

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// splitDocuments splits a multi-document YAML stream, dropping empty documents.
func splitDocuments(manifest string) []string {
	var docs []string
	for _, d := range documentSeparator.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// decodeStrict decodes one YAML document into out, failing on unknown or duplicate fields.
func decodeStrict(doc string, out any) error {
	if err := yaml.UnmarshalStrict([]byte(doc), out); err != nil {
		return fmt.Errorf("strict decoding into %T: %w", out, err)
	}
	return nil
}

// add decodes doc by its apiVersion and kind into the matching API type.
func (r *rendered) add(doc string) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	var meta metav1.ObjectMeta
	switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
	case "apps/v1/Deployment":
		var o appsv1.Deployment
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.deployments[o.Name], meta = &o, o.ObjectMeta
	case "v1/Service":
		var o corev1.Service
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.services[o.Name], meta = &o, o.ObjectMeta
	case "v1/Secret":
		var o corev1.Secret
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.secrets[o.Name], meta = &o, o.ObjectMeta
	case "v1/ServiceAccount":
		var o corev1.ServiceAccount
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.serviceAccounts[o.Name], meta = &o, o.ObjectMeta
	case "autoscaling/v2/HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.hpas[o.Name], meta = &o, o.ObjectMeta
	case "policy/v1/PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.pdbs[o.Name], meta = &o, o.ObjectMeta
	case "monitoring.coreos.com/v1/ServiceMonitor":
		var o serviceMonitor
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.serviceMonitors[o.Name], meta = &o, o.ObjectMeta
	case "monitoring.coreos.com/v1/PrometheusRule":
		var o prometheusRule
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.prometheusRules[o.Name], meta = &o, o.ObjectMeta
	case "v1/ConfigMap":
		var o corev1.ConfigMap
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.configMaps[o.Name], meta = &o, o.ObjectMeta
	case "networking.k8s.io/v1/Ingress":
		var o networkingv1.Ingress
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.ingresses[o.Name], meta = &o, o.ObjectMeta
	case "networking.k8s.io/v1/NetworkPolicy":
		var o networkingv1.NetworkPolicy
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.networkPolicies[o.Name], meta = &o, o.ObjectMeta
	case "v1/Pod":
		var o corev1.Pod
		if err := decodeStrict(doc, &o); err != nil {
			return err
		}
		r.testPods[o.Name], meta = &o, o.ObjectMeta
	default:
		return fmt.Errorf("unexpected object %s", gvk)
	}
	if meta.Name == "" {
		return errors.New("object without a name")
	}
	r.meta = append(r.meta, meta)
	r.kinds = append(r.kinds, tm.Kind)
	return nil
}

// renderError installs with vals and returns the error, failing the test if there is none.
func renderError(t *testing.T, vals map[string]any) error {
	t.Helper()
	_, err := install(t, testNamespace, vals)
	if err == nil {
		t.Fatalf("rendering with %v succeeded, want an error", vals)
	}
	return err
}

// manifestOnly renders the chart's plain objects (no hooks) as `helm template --skip-tests --set admin.generateToken=false` prints them.
func manifestOnly(t *testing.T, namespace string) []byte {
	t.Helper()
	// Plain manifests hold no secret: no generated admin token.
	rel, err := install(t, namespace, map[string]any{"admin": map[string]any{"generateToken": false}})
	if err != nil {
		t.Fatalf("rendering chart: %v", err)
	}
	var b bytes.Buffer
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteByte('\n')
	return b.Bytes()
}
