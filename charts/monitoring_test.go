package charts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scilifelab/restaurants/internal/metrics"
)

// The monitoring files of the chart, and the plain rules file beside the
// plain manifests.
var (
	rulesFile      = filepath.Join("files", "prometheus-rules.yaml")
	dashboardFile  = filepath.Join("files", "grafana-dashboard.json")
	plainRulesFile = filepath.Join("..", "k8s", "prometheus-rules.yaml")
)

// runbookPage is the chart's README on the project's home (Chart.yaml's
// home), where every alert's runbook_url points (runbookBase), anchored by
// the alert's name in lower case.
const (
	runbookPage = "/blob/main/charts/README.md"
	runbookBase = "https://github.com/scilifelab/restaurants" + runbookPage + "#"
)

// ruleGroups is a Prometheus rules file, and the spec of a PrometheusRule.
// Decoding it strictly catches misspelt fields.
type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// alerts lists every alerting rule of the groups.
func (g ruleGroups) alerts() []rule {
	var out []rule
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// prometheusRule is the part of monitoring.coreos.com/v1 PrometheusRule the
// chart writes.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleGroups `json:"spec"`
}

// sourceRules reads and strictly decodes files/prometheus-rules.yaml.
func sourceRules(t *testing.T) ruleGroups {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatalf("reading the rules: %v", err)
	}
	var g ruleGroups
	if err := decodeStrict(string(b), &g); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(g.alerts()) == 0 {
		t.Fatalf("%s holds no alerts", rulesFile)
	}
	return g
}

// renderedRules renders the chart with its PrometheusRule on (and vals
// merged in) and returns the rule's groups.
func renderedRules(t *testing.T, vals map[string]any) ruleGroups {
	t.Helper()
	pr := map[string]any{"enabled": true}
	if extra, ok := vals["prometheusRule"].(map[string]any); ok {
		for k, v := range extra {
			pr[k] = v
		}
	}
	all := map[string]any{}
	for k, v := range vals {
		all[k] = v
	}
	all["prometheusRule"] = pr
	r := render(t, all)
	if len(r.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(r.prometheusRules))
	}
	for _, p := range r.prometheusRules {
		return p.Spec
	}
	return ruleGroups{}
}

// scopedMatchers are the matchers of the rules file that the chart scopes to
// the release, by the label whose value the chart puts in.
func scopedMatchers() []string {
	return []string{`job="restaurants"`, `deployment="restaurants"`, `horizontalpodautoscaler="restaurants"`}
}

func TestPrometheusRuleScopesTheRulesToTheRelease(t *testing.T) {
	src := sourceRules(t)
	vals := map[string]any{
		"fullnameOverride": "lunch-relay",
		"prometheusRule":   map[string]any{"job": "relays", "labels": map[string]any{"release": "prom"}},
	}
	r := render(t, map[string]any{"fullnameOverride": "lunch-relay", "prometheusRule": map[string]any{"enabled": true, "job": "relays", "labels": map[string]any{"release": "prom"}}})
	pr, ok := r.prometheusRules["lunch-relay"]
	if !ok {
		t.Fatalf("no PrometheusRule lunch-relay; have %v", r.prometheusRules)
	}
	if pr.Labels["release"] != "prom" || pr.Labels["app.kubernetes.io/component"] != "relay" {
		t.Errorf("PrometheusRule labels = %v, want release=prom and the chart's labels", pr.Labels)
	}
	got := renderedRules(t, vals)
	want := map[string]string{
		`job="restaurants"`:                     `job="relays",namespace="lunch"`,
		`deployment="restaurants"`:              `deployment="lunch-relay",namespace="lunch"`,
		`horizontalpodautoscaler="restaurants"`: `horizontalpodautoscaler="lunch-relay",namespace="lunch"`,
	}
	if len(got.Groups) != len(src.Groups) {
		t.Fatalf("%d groups rendered, want the %d of %s", len(got.Groups), len(src.Groups), rulesFile)
	}
	for i, g := range src.Groups {
		if len(got.Groups[i].Rules) != len(g.Rules) {
			t.Fatalf("group %s: %d rules rendered, want %d", g.Name, len(got.Groups[i].Rules), len(g.Rules))
		}
		for j, sr := range g.Rules {
			gr := got.Groups[i].Rules[j]
			wantExpr := sr.Expr
			scoped := 0
			for from, to := range want {
				scoped += strings.Count(wantExpr, from)
				wantExpr = strings.ReplaceAll(wantExpr, from, to)
			}
			if scoped == 0 {
				t.Errorf("%s: the expression selects nothing of the release (none of %v):\n%s", sr.Alert, scopedMatchers(), sr.Expr)
			}
			if gr.Expr != wantExpr {
				t.Errorf("%s: rendered expression\n%s\nwant\n%s", sr.Alert, gr.Expr, wantExpr)
			}
			if gr.Alert != sr.Alert || gr.For != sr.For || !equalMaps(gr.Labels, sr.Labels) || !equalMaps(gr.Annotations, sr.Annotations) {
				t.Errorf("%s: rendered rule differs beyond its selectors:\n got %+v\nwant %+v", sr.Alert, gr, sr)
			}
		}
	}
	// With the defaults the job is the full name, as the ServiceMonitor scrapes it.
	def := renderedRules(t, nil)
	for _, a := range def.alerts() {
		if strings.Contains(a.Expr, "job=") && !strings.Contains(a.Expr, `job="restaurants",namespace="lunch"`) {
			t.Errorf("%s: with the defaults, want job=\"restaurants\" (the full name) in namespace lunch:\n%s", a.Alert, a.Expr)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPrometheusRuleJobMustBeAPlainLabelValue(t *testing.T) {
	for _, job := range []string{`re"lay`, `re\lay`, "two words"} {
		msg := renderError(t, map[string]any{"prometheusRule": map[string]any{"enabled": true, "job": job}}).Error()
		if !strings.Contains(msg, "/prometheusRule/job") {
			t.Errorf("job %q: error does not name /prometheusRule/job:\n%s", job, msg)
		}
	}
}

// TestEveryAlertTellsTheOperatorWhatToDo checks the annotations of every
// alert, and that its runbook_url points at an entry of the chart's README.
func TestEveryAlertTellsTheOperatorWhatToDo(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if home := loadChart(t).Metadata.Home; runbookBase != home+runbookPage+"#" {
		t.Fatalf("runbooks point at %s, but the chart's home is %s", runbookBase, home)
	}
	seen := map[string]bool{}
	for _, a := range sourceRules(t).alerts() {
		if seen[a.Alert] {
			t.Errorf("alert %s appears twice", a.Alert)
		}
		seen[a.Alert] = true
		if !strings.HasPrefix(a.Alert, "Restaurants") {
			t.Errorf("alert %s: its name should start with Restaurants", a.Alert)
		}
		if s := a.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q, want critical, warning or info", a.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[k]) == "" {
				t.Errorf("%s: annotation %s missing", a.Alert, k)
			}
		}
		if len(a.Annotations) != 3 {
			t.Errorf("%s: annotations %v, want summary, description and runbook_url", a.Alert, a.Annotations)
		}
		if d := a.Annotations["description"]; !strings.Contains(d, "Look at") {
			t.Errorf("%s: the description does not tell the operator where to look:\n%s", a.Alert, d)
		}
		anchor := strings.ToLower(a.Alert)
		if got := a.Annotations["runbook_url"]; got != runbookBase+anchor {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, got, runbookBase+anchor)
		}
		if !bytes.Contains(readme, []byte(`<a id="`+anchor+`"></a>`)) {
			t.Errorf("%s: charts/README.md has no runbook entry <a id=%q></a>", a.Alert, anchor)
		}
	}
	if !bytes.Contains(readme, []byte(`<a id="alerts"></a>`)) {
		t.Error(`charts/README.md has no "Alerts" section anchored <a id="alerts"></a>`)
	}
}

// TestPlainRulesInSync fails when k8s/prometheus-rules.yaml, the rules for a
// Prometheus without the operator, is no longer the chart's rules file.
func TestPlainRulesInSync(t *testing.T) {
	plain, err := os.ReadFile(plainRulesFile)
	if err != nil {
		t.Fatalf("reading the plain rules (make manifests writes them): %v", err)
	}
	src, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// A header of comment lines, then the source as it is.
	i := bytes.Index(plain, src)
	if i < 0 || i+len(src) != len(plain) {
		t.Fatalf("%s is out of sync with %s: run `make manifests`", plainRulesFile, rulesFile)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(plain[:i])), "\n") {
		if !strings.HasPrefix(line, "#") {
			t.Errorf("%s: header line %q is not a comment", plainRulesFile, line)
		}
	}
}

func TestGrafanaDashboardConfigMap(t *testing.T) {
	want, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	r := render(t, map[string]any{"grafanaDashboard": map[string]any{
		"enabled": true, "labels": map[string]any{"team": "lunch"}, "annotations": map[string]any{"grafana_folder": "Lunch"},
	}})
	cm, ok := r.configMaps["restaurants-dashboard"]
	if !ok {
		t.Fatalf("no ConfigMap restaurants-dashboard; have %v", r.configMaps)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "lunch" || cm.Labels["app.kubernetes.io/instance"] != testRelease {
		t.Errorf("ConfigMap labels = %v, want grafana_dashboard=1, team=lunch and the chart's", cm.Labels)
	}
	if cm.Annotations["grafana_folder"] != "Lunch" {
		t.Errorf("ConfigMap annotations = %v, want grafana_folder=Lunch", cm.Annotations)
	}
	if cm.Namespace != "" {
		t.Errorf("ConfigMap namespace %q, want none (the release's)", cm.Namespace)
	}
	if got := cm.Data["restaurants.json"]; got != strings.TrimRight(string(want), "\n") {
		t.Errorf("ConfigMap data restaurants.json is not %s as it is (%d bytes, want %d)", dashboardFile, len(got), len(want))
	}
	if len(cm.Data) != 1 {
		t.Errorf("ConfigMap data keys %v, want only restaurants.json", cm.Data)
	}

	r = render(t, map[string]any{"grafanaDashboard": map[string]any{"enabled": true, "namespace": "monitoring"}})
	if cm := r.configMaps["restaurants-dashboard"]; cm == nil || cm.Namespace != "monitoring" {
		t.Errorf("with grafanaDashboard.namespace=monitoring: %+v", cm)
	}
	// The longest full name still gives a valid object name.
	r = render(t, map[string]any{"fullnameOverride": strings.Repeat("a", 53), "grafanaDashboard": map[string]any{"enabled": true}})
	for name := range r.configMaps {
		if len(name) > 63 {
			t.Errorf("ConfigMap name %q is longer than 63", name)
		}
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name     string          `json:"name"`
			Type     string          `json:"type"`
			Query    json.RawMessage `json:"query"`
			AllValue string          `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Collapsed bool     `json:"collapsed"`
	Panels    []panel  `json:"panels"`
	Targets   []target `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	Datasource *datasource `json:"datasource"`
	Expr       string      `json:"expr"`
	RefID      string      `json:"refId"`
}

// panelQuery is one query of one panel.
type panelQuery struct {
	panel, refID, expr string
}

func (q panelQuery) String() string { return fmt.Sprintf("panel %q query %s", q.panel, q.refID) }

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels lists the panels, those inside rows included, rows excluded.
func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			out = append(out, p.Panels...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (d dashboard) queries() []panelQuery {
	var out []panelQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, panelQuery{p.Title, tg.RefID, tg.Expr})
		}
	}
	return out
}

// selectorBlock matches the label matchers of one selector in a query.
var selectorBlock = regexp.MustCompile(`\{[^}]*\}`)

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both are needed for provisioning", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && v.AllValue != ".*" {
			t.Errorf("variable %s: allValue %q, want .* (also series without the label)", v.Name, v.AllValue)
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "namespace": "query", "job": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[int]string{}
	type box struct {
		title      string
		x, y, w, h int
	}
	var boxes []box
	for _, p := range d.Panels {
		boxes = append(boxes, box{p.Title, p.GridPos.X, p.GridPos.Y, p.GridPos.W, p.GridPos.H})
		if p.Type == "row" && p.Collapsed {
			for _, c := range p.Panels {
				boxes = append(boxes, box{c.Title, c.GridPos.X, c.GridPos.Y, c.GridPos.W, c.GridPos.H})
			}
		}
	}
	for i, a := range boxes {
		if a.w <= 0 || a.h <= 0 || a.x < 0 || a.x+a.w > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", a.title, a)
		}
		for _, b := range boxes[:i] {
			if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
				t.Errorf("panels %q and %q overlap", a.title, b.title)
			}
		}
	}
	all := d.allPanels()
	for _, p := range all {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", p.Title, prev, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the variable ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %+v, want ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			blocks := selectorBlock.FindAllString(tg.Expr, -1)
			if len(blocks) == 0 {
				t.Errorf("panel %q query %s selects no labels: %s", p.Title, tg.RefID, tg.Expr)
			}
			for _, b := range blocks {
				if !strings.Contains(b, `namespace=~"$namespace",job=~"$job"`) {
					t.Errorf("panel %q query %s: selector %s ignores the namespace and job variables", p.Title, tg.RefID, b)
				}
			}
		}
	}
}

// TestDashboardShowsWhatTheIssueAsks checks that the panels operators asked
// for are there.
func TestDashboardShowsWhatTheIssueAsks(t *testing.T) {
	queries := loadDashboard(t).queries()
	for what, pattern := range map[string]string{
		"requests by cache result":      `sum by \(cache\) \(rate\(restaurants_requests_total`,
		"hit ratio":                     `hit\|shared_hit\|stale`,
		"p50 of upstream calls":         `histogram_quantile\(0\.5, sum by \(le\) \(rate\(restaurants_upstream_request_duration_seconds_bucket`,
		"p99 of upstream calls":         `histogram_quantile\(0\.99, sum by \(le\) \(rate\(restaurants_upstream_request_duration_seconds_bucket`,
		"upstream calls by outcome":     `sum by \(outcome\) \(rate\(restaurants_upstream_requests_total`,
		"stale served":                  `rate\(restaurants_stale_served_total`,
		"cache bytes":                   `restaurants_cache_bytes`,
		"cache entries":                 `restaurants_cache_entries`,
		"upstream calls in flight":      `restaurants_upstream_inflight`,
		"replicas":                      `count(?: by \(version\))? \(restaurants_build_info`,
		"upstream calls not made":       `restaurants_upstream_skipped_total`,
		"shared tier up":                `restaurants_shared_cache_up`,
		"shared tier lookups by result": `restaurants_shared_cache_lookups_total`,
	} {
		re := regexp.MustCompile(pattern)
		if !slices.ContainsFunc(queries, func(q panelQuery) bool { return re.MatchString(q.expr) }) {
			t.Errorf("no panel shows %s (no query matches %s)", what, pattern)
		}
	}
}

// TestDashboardShowsEveryRelayMetric fails when the relay exports a metric of
// its own that no dashboard query uses.
func TestDashboardShowsEveryRelayMetric(t *testing.T) {
	m := metrics.New("test", metrics.Sources{
		CacheEntries:     func() int { return 0 },
		CacheBytes:       func() int { return 0 },
		UpstreamInflight: func() int64 { return 0 },
		Shared:           true,
	})
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exprs strings.Builder
	for _, q := range loadDashboard(t).queries() {
		exprs.WriteString(q.expr + "\n")
	}
	n := 0
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "restaurants_") {
			continue
		}
		n++
		if !strings.Contains(exprs.String(), name) {
			t.Errorf("no dashboard query uses %s", name)
		}
	}
	if n < 8 {
		t.Fatalf("the relay exports only %d restaurants_* metrics", n)
	}
}
