package charts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/scilifelab/restaurants/internal/loadtest"
	"github.com/scilifelab/restaurants/internal/menuapi"
	"github.com/scilifelab/restaurants/internal/testkit/proctest"
	"github.com/scilifelab/restaurants/internal/testkit/redistest"
	"github.com/scilifelab/restaurants/internal/testkit/relaytest"
	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
)

// The run on a real Prometheus uses the rules as the chart renders them, with
// one mechanical change: every duration, each range in an expression and each
// `for`, is divided by ruleScale. The rules' durations are whole minutes, so
// minutes become seconds ([5m] -> [5s], for: 10m -> for: 10s), and a scrape
// every second gives each range as many samples as a scrape a minute would
// give the real one. The expressions are otherwise the very ones shipped.
const (
	ruleScale      = 60
	scrapeInterval = time.Second
	// rateInterval is what the dashboard's $__rate_interval stands for here:
	// Grafana makes it at least four scrape intervals.
	rateInterval = "5s"
	// waitLimit bounds each wait for Prometheus to see a change.
	waitLimit = 30 * time.Second
)

// rangeSelector matches the brackets of a range (or a subquery) in PromQL.
var rangeSelector = regexp.MustCompile(`\[([^\]]*)\]`)

// scaleDuration divides a Prometheus duration by ruleScale, refusing one that
// does not divide evenly.
func scaleDuration(s string) (string, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return "", fmt.Errorf("duration %q: %w", s, err)
	}
	if time.Duration(d)%(ruleScale*time.Second) != 0 {
		return "", fmt.Errorf("duration %q is not a whole number of minutes", s)
	}
	return model.Duration(time.Duration(d) / ruleScale).String(), nil
}

// scaleRules divides every range and every `for` of the rules by ruleScale.
func scaleRules(g ruleGroups) (ruleGroups, error) {
	var out ruleGroups
	for _, grp := range g.Groups {
		sg := ruleGroup{Name: grp.Name, Interval: grp.Interval}
		for _, r := range grp.Rules {
			var err error
			r.Expr = rangeSelector.ReplaceAllStringFunc(r.Expr, func(m string) string {
				s, e := scaleDuration(m[1 : len(m)-1])
				if e != nil && err == nil {
					err = fmt.Errorf("%s: %w (only plain ranges can be scaled)", r.Alert, e)
				}
				return "[" + s + "]"
			})
			if r.For != "" {
				f, e := scaleDuration(r.For)
				if e != nil && err == nil {
					err = fmt.Errorf("%s: for: %w", r.Alert, e)
				}
				r.For = f
			}
			if err != nil {
				return ruleGroups{}, err
			}
			sg.Rules = append(sg.Rules, r)
		}
		out.Groups = append(out.Groups, sg)
	}
	return out, nil
}

func TestScaleRules(t *testing.T) {
	g, err := scaleRules(ruleGroups{Groups: []ruleGroup{{Name: "g", Rules: []rule{{
		Alert: "A", Expr: `rate(x[5m]) / rate(y[1h]) > 0 and changes(z[15m]) > 1`, For: "10m",
	}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Groups[0].Rules[0]; r.Expr != `rate(x[5s]) / rate(y[1m]) > 0 and changes(z[15s]) > 1` || r.For != "10s" {
		t.Errorf("scaled: %q for %q", r.Expr, r.For)
	}
	for _, bad := range []rule{{Alert: "B", Expr: "rate(x[90s])"}, {Alert: "C", Expr: "max_over_time(x[5m:1m])"}, {Alert: "D", Expr: "x", For: "30s"}} {
		if _, err := scaleRules(ruleGroups{Groups: []ruleGroup{{Name: "g", Rules: []rule{bad}}}}); err == nil {
			t.Errorf("%s (%s, for %q): scaled without an error", bad.Alert, bad.Expr, bad.For)
		}
	}
	// Every rule shipped can be scaled.
	if _, err := scaleRules(sourceRules(t)); err != nil {
		t.Error(err)
	}
}

// The phases of the run on a real Prometheus, in order.
type phase string

const (
	phaseUpstreamErrors phase = "the upstream answers 5xx"
	phaseRelayKilled    phase = "relay b killed"
	phaseRelayRestarted phase = "relay b restarted twice"
	phaseOverBudget     phase = "clients sweep uncached keys faster than --upstream-rate"
	phaseRateLimited    phase = "the upstream answers 429 during the sweep"
	phaseSharedDown     phase = "the shared tier stopped"
	phaseAllStopped     phase = "every relay stopped"
)

// alertCheck says in which phase an alert's expression must hold, or why it
// cannot be checked here.
type alertCheck struct {
	phase     phase
	unchecked string
}

// alertChecks covers every alert of the rules; the test fails for an alert
// missing here. An entry with unchecked names what the run cannot have (the
// alert's promtool unit tests still hold it to account); it is logged.
func alertChecks() map[string]alertCheck {
	return map[string]alertCheck{
		"RestaurantsUpstreamFailing":         {phase: phaseUpstreamErrors},
		"RestaurantsServingStaleOnError":     {phase: phaseUpstreamErrors},
		"RestaurantsPodDown":                 {phase: phaseRelayKilled},
		"RestaurantsPodRestarting":           {phase: phaseRelayRestarted},
		"RestaurantsUpstreamBudgetExhausted": {phase: phaseOverBudget},
		"RestaurantsServingErrors":           {phase: phaseOverBudget},
		"RestaurantsHitRatioLow":             {phase: phaseOverBudget},
		"RestaurantsUpstreamRateLimited":     {phase: phaseRateLimited},
		"RestaurantsSharedCacheDown":         {phase: phaseSharedDown},
		"RestaurantsRelayDown":               {phase: phaseAllStopped},
		"RestaurantsReplicasUnavailable":     {unchecked: "needs kube_deployment_status_replicas_unavailable from kube-state-metrics, which runs only in a cluster"},
		"RestaurantsAutoscalerAtMax":         {unchecked: "needs kube_horizontalpodautoscaler_* from kube-state-metrics, which runs only in a cluster"},
	}
}

// TestAlertsAndDashboardOnPrometheus runs Debian's prometheus on loopback,
// scraping three relay processes in front of the stand-in, the third with
// the shared tier on a redis-server, with the chart's rules scaled by
// ruleScale. Under load it checks that every dashboard query
// returns data and no alert holds; then it makes each failure happen for real
// and checks that the alerts about it hold, and that
// RestaurantsUpstreamFailing fires during upstream 5xx and clears after.
func TestAlertsAndDashboardOnPrometheus(t *testing.T) {
	promBin := tooltest.Require(t, tooltest.Prometheus)
	began := time.Now()
	lap := func(what string) { t.Logf("%6.1fs  %s", time.Since(began).Seconds(), what) }

	rules, err := scaleRules(renderedRules(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := alertChecks()
	exprs := map[string]string{}
	for _, a := range rules.alerts() {
		if _, ok := checks[a.Alert]; !ok {
			t.Errorf("alert %s has no entry in alertChecks: say in which phase it must hold", a.Alert)
		}
		exprs[a.Alert] = a.Expr
	}
	for name := range checks {
		if _, ok := exprs[name]; !ok {
			t.Errorf("alertChecks names %s, which the rules do not have", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	_, upstream := relaytest.StandIn(t, menuapi.Options{Seed: 1})
	shared := redistest.Start(t)
	a, b := newRelay(t, "a", upstream.URL+"/api/"), newRelay(t, "b", upstream.URL+"/api/")
	c := newRelay(t, "c", upstream.URL+"/api/", "--shared-cache", shared.URL(), "--shared-cache-signing-key", testSigningKey)
	relays := []*relayProcess{a, b, c}
	for _, r := range relays {
		r.start(t)
	}
	prom := startPrometheus(t, promBin, rules, a.admin, b.admin, c.admin)
	lap("relays and prometheus up")

	ctx := context.Background()
	waitFor(t, "every relay scraped", func() (bool, string) {
		v, err := prom.query(ctx, `count(up{job="restaurants",namespace="lunch"} == 1)`)
		return err == nil && len(v) == 1 && int(v[0].Value) == len(relays), fmt.Sprint(v, err)
	})

	// holds reports whether an alert's expression returns series, and which.
	holds := func(name string) (bool, string) {
		v, err := prom.query(ctx, exprs[name])
		if err != nil {
			return false, err.Error()
		}
		return len(v) > 0, fmt.Sprintf("%s: %v", name, v)
	}
	checked := map[string]bool{}
	expect := func(ph phase) {
		t.Helper()
		for _, name := range slices.Sorted(maps.Keys(checks)) {
			if checks[name].phase != ph {
				continue
			}
			waitFor(t, name+" holds while "+string(ph), func() (bool, string) { return holds(name) })
			checked[name] = true
		}
		lap("alerts of phase: " + string(ph))
	}

	// All well: load on every relay's hot keys.
	var hotKeys []string
	for _, r := range relays {
		hotKeys = append(hotKeys, r.base+"/restaurant 2", r.base+"/restaurant/dufva", r.base+"/restaurant/bikupan")
	}
	hot := startLoad(t, hotKeys)
	checkDashboard(t, ctx, prom)
	lap("every dashboard query returns data")
	waitFor(t, "no alert holds while all is well", func() (bool, string) {
		var holding []string
		for _, name := range slices.Sorted(maps.Keys(exprs)) {
			if ok, detail := holds(name); ok {
				holding = append(holding, detail)
			}
		}
		return len(holding) == 0, strings.Join(holding, "\n")
	})
	lap("no alert holds")

	// Upstream 5xx: one relay serves stale copies; the other is killed and
	// restarted twice meanwhile (with an empty cache, it answers 502).
	setFault(t, upstream.URL, "5xx")
	b.kill(t)
	expect(phaseRelayKilled)
	b.start(t)
	waitFor(t, "relay b's second process scraped", func() (bool, string) {
		v, err := prom.query(ctx, fmt.Sprintf(`changes(process_start_time_seconds{instance=%q}[1m]) >= 1`, b.admin))
		return err == nil && len(v) == 1, fmt.Sprint(v, err)
	})
	b.kill(t)
	b.start(t)
	expect(phaseRelayRestarted)
	expect(phaseUpstreamErrors)
	waitFor(t, "RestaurantsUpstreamFailing firing", func() (bool, string) {
		al, err := prom.alerts(ctx, "RestaurantsUpstreamFailing")
		if err != nil {
			return false, err.Error()
		}
		for _, x := range al {
			if x.State == promv1.AlertStateFiring && x.Labels["namespace"] == "lunch" && x.Labels["job"] == "restaurants" &&
				strings.Contains(string(x.Annotations["description"]), "% of the upstream calls of restaurants failed") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", al)
	})
	lap("RestaurantsUpstreamFailing fires")

	// The upstream recovers: the alert clears.
	setFault(t, upstream.URL, "none")
	waitFor(t, "RestaurantsUpstreamFailing cleared", func() (bool, string) {
		al, err := prom.alerts(ctx, "RestaurantsUpstreamFailing")
		if err != nil {
			return false, err.Error()
		}
		ok, detail := holds("RestaurantsUpstreamFailing")
		return len(al) == 0 && !ok, fmt.Sprintf("%+v %s", al, detail)
	})
	lap("RestaurantsUpstreamFailing cleared")

	// Clients ask for keys never cached, 30 a second on each relay, over its
	// budget of 5 calls a second: no hits, and 503s for the calls held
	// back. Then the upstream answers 429 too. Neither is an upstream
	// failure.
	hot.stop(t)
	sweep := startLoad(t, []string{a.base + "/restaurant/sweep-{seq}", b.base + "/restaurant/sweep-{seq}"})
	expect(phaseOverBudget)
	setFault(t, upstream.URL, "429")
	expect(phaseRateLimited)
	if ok, detail := holds("RestaurantsUpstreamFailing"); ok {
		t.Errorf("RestaurantsUpstreamFailing holds while the upstream only refuses or rate limits: %s", detail)
	}
	sweep.stop(t)

	// The shared tier goes away: relay c works alone.
	shared.Kill()
	expect(phaseSharedDown)

	for _, r := range relays {
		r.kill(t)
	}
	expect(phaseAllStopped)

	for _, name := range slices.Sorted(maps.Keys(checks)) {
		c := checks[name]
		switch {
		case c.unchecked != "":
			t.Logf("not checked here: %s %s", name, c.unchecked)
		case !checked[name]:
			t.Errorf("%s: its phase %q never ran", name, c.phase)
		}
	}
	lap("done")
}

// checkDashboard waits until every query of the dashboard, with its
// variables as Grafana would fill them, returns at least one finite sample.
func checkDashboard(t *testing.T, ctx context.Context, prom *prometheusServer) {
	t.Helper()
	d := loadDashboard(t)
	values := map[string]string{"__rate_interval": rateInterval}
	// The variables' own queries first, in order: a later one may use an earlier one.
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
		}
		m := labelValues.FindStringSubmatch(fill(q, values))
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
		}
		var got model.LabelValues
		waitFor(t, "variable "+v.Name+" has values", func() (bool, string) {
			var err error
			got, err = prom.labelValues(ctx, m[2], m[1])
			return err == nil && len(got) > 0, fmt.Sprint(got, err)
		})
		values[v.Name] = string(got[0])
	}
	if values["namespace"] != "lunch" || values["job"] != "restaurants" {
		t.Fatalf("variables %v, want namespace lunch and job restaurants", values)
	}
	queries := d.queries()
	waitFor(t, "every dashboard query returns data", func() (bool, string) {
		var empty []string
		for _, q := range queries {
			v, err := prom.query(ctx, fill(q.expr, values))
			if err != nil {
				empty = append(empty, fmt.Sprintf("%s: %v", q, err))
				continue
			}
			if !slices.ContainsFunc(v, func(s *model.Sample) bool {
				f := float64(s.Value)
				return !math.IsNaN(f) && !math.IsInf(f, 0)
			}) {
				empty = append(empty, fmt.Sprintf("%s: no finite sample: %v\n  %s", q, v, fill(q.expr, values)))
			}
		}
		return len(empty) == 0, strings.Join(empty, "\n")
	})
}

// fill replaces the dashboard variables ($name and ${name}) in q.
func fill(q string, values map[string]string) string {
	// Longest first, so that $job never eats into $jobs.
	names := slices.SortedFunc(maps.Keys(values), func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		q = strings.ReplaceAll(q, "${"+n+"}", values[n])
		q = strings.ReplaceAll(q, "$"+n, values[n])
	}
	return q
}

// waitFor polls cond until it holds, failing the test with cond's last
// detail after waitLimit.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen:\n%s", what, waitLimit, detail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setFault switches the stand-in's failure mode through its control endpoint.
func setFault(t *testing.T, base, mode string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/-/fault?mode="+mode, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT /-/fault?mode=%s: %v", mode, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /-/fault?mode=%s: %d %s", mode, resp.StatusCode, body)
	}
}

// load is a run of the load engine in the background.
type load struct {
	cancel context.CancelFunc
	done   chan error
}

// startLoad loads the targets ("URL [WEIGHT]") at a modest open-loop rate
// until stopped (and for two minutes at most).
func startLoad(t *testing.T, targets []string) *load {
	t.Helper()
	var ts []loadtest.Target
	for _, s := range targets {
		tg, err := loadtest.ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := loadtest.Run(ctx, loadtest.Config{Targets: ts, Rate: 60, Connections: 4, Duration: 2 * time.Minute, Timeout: 5 * time.Second})
		l.done <- err
	}()
	t.Cleanup(func() { l.stop(t) })
	return l
}

func (l *load) stop(t *testing.T) {
	t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	if err := <-l.done; err != nil {
		t.Errorf("load: %v", err)
	}
}

// relayProcess is a relay run as a process of its own (the test binary,
// through relayMarker), on fixed loopback ports so that a restarted one is
// the same scrape target.
type relayProcess struct {
	name, base, admin string
	args              []string
	out               *proctest.Buffer
	cmd               *exec.Cmd
	done              chan struct{}
}

func newRelay(t *testing.T, name, upstream string, extra ...string) *relayProcess {
	listen, admin := proctest.ClosedAddr(t), proctest.ClosedAddr(t)
	r := &relayProcess{name: name, base: "http://" + listen, admin: admin, out: &proctest.Buffer{}, args: []string{
		"--listen", listen, "--admin-listen", admin, "--upstream", upstream,
		// Keys expire every second, so that the upstream is asked all the
		// time; an expired copy is served while it is refreshed, and once a
		// refresh has failed it stands in as a stale copy on error.
		"--cache-ttl", "1s", "--negative-ttl", "1s", "--fixed-ttl",
		// A failing key waits at most 1 s (the default's minute scaled like
		// the rules), so that it is still tried within every scaled window.
		"--upstream-backoff", "50ms", "--upstream-backoff-max", "1s",
		// The hot keys (3 a second) stay within the budget; the sweep (30 a
		// second) does not.
		"--upstream-rate", "5", "--upstream-burst", "10",
		"--upstream-timeout", "2s", "--drain-delay", "0s", "--log-level", "error",
	}}
	r.args = append(r.args, extra...)
	t.Cleanup(func() {
		if r.cmd != nil {
			r.kill(t)
		}
	})
	return r
}

// start runs the relay and waits until it is ready.
func (r *relayProcess) start(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, r.args...)
	cmd.Env = []string{relayMarker + "=1", "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting relay %s: %v", r.name, err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	done := r.done
	go func() { cmd.Wait(); close(done) }()
	waitFor(t, "relay "+r.name+" ready", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("relay %s exited: %v\n%s", r.name, cmd.ProcessState, r.out)
		default:
		}
		resp, err := http.Get("http://" + r.admin + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill ends the relay with SIGKILL, as a crash or the OOM killer would.
func (r *relayProcess) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("killing relay %s: %v", r.name, err)
	}
	<-r.done
	r.cmd = nil
}

// prometheusServer is Debian's prometheus on a loopback port.
type prometheusServer struct {
	api promv1.API
	out *proctest.Buffer
}

// startPrometheus runs prometheus with the rules, scraping the relays' admin
// listeners every scrapeInterval as the job "restaurants" in namespace
// "lunch" (the labels the chart's ServiceMonitor gives), its data in a
// temporary directory.
func startPrometheus(t *testing.T, bin string, rules ruleGroups, targets ...string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	rb, err := yaml.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rb, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     model.Duration(scrapeInterval).String(),
			"scrape_timeout":      model.Duration(scrapeInterval).String(),
			"evaluation_interval": model.Duration(scrapeInterval).String(),
		},
		"rule_files": []string{"rules.yaml"},
		"scrape_configs": []any{map[string]any{
			"job_name":       "restaurants",
			"static_configs": []any{map[string]any{"targets": targets, "labels": map[string]string{"namespace": "lunch"}}},
		}},
	}
	cb, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cb, 0o644); err != nil {
		t.Fatal(err)
	}
	// A port free a moment ago may be taken by the time prometheus binds it:
	// then it exits at once, and another port is tried.
	for attempt := 1; ; attempt++ {
		addr := proctest.ClosedAddr(t)
		out := &proctest.Buffer{}
		cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			select {
			case <-done:
				return
			default:
			}
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		ready := false
		waitFor(t, "prometheus ready", func() (bool, string) {
			select {
			case <-done:
				return true, ""
			default:
			}
			resp, err := http.Get("http://" + addr + "/-/ready")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
			return ready, resp.Status + "\n" + out.String()
		})
		if !ready {
			if attempt < 3 && strings.Contains(out.String(), "address already in use") {
				continue
			}
			t.Fatalf("prometheus exited: %v\n%s", cmd.ProcessState, out)
		}
		client, err := api.NewClient(api.Config{Address: "http://" + addr})
		if err != nil {
			t.Fatal(err)
		}
		return &prometheusServer{api: promv1.NewAPI(client), out: out}
	}
}

// query runs an instant query now and returns its vector.
func (p *prometheusServer) query(ctx context.Context, q string) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, _, err := p.api.Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: a %s, want a vector", q, v.Type())
	}
	return vec, nil
}

// labelValues lists the values of label on the series matching selector.
func (p *prometheusServer) labelValues(ctx context.Context, label, selector string) (model.LabelValues, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, _, err := p.api.LabelValues(ctx, label, []string{selector}, time.Now().Add(-time.Hour), time.Now())
	return v, err
}

// alerts lists the active (pending or firing) alerts named name.
func (p *prometheusServer) alerts(ctx context.Context, name string) ([]promv1.Alert, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := p.api.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	var out []promv1.Alert
	for _, a := range res.Alerts {
		if string(a.Labels["alertname"]) == name {
			out = append(out, a)
		}
	}
	return out, nil
}
