package charts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scilifelab/restaurants/internal/testkit/tooltest"
	"sigs.k8s.io/yaml"
)

// The promtool unit tests: the shared file holds what the plain rules and the
// chart's rendering must both do; the other two what only one of them does.
var (
	rulesTestShared = filepath.Join("testdata", "prometheus-rules.test.yaml")
	rulesTestPlain  = filepath.Join("testdata", "prometheus-rules-plain.test.yaml")
	rulesTestChart  = filepath.Join("testdata", "prometheus-rules-chart.test.yaml")
)

// promtool runs promtool with args in dir and returns its output and whether
// it exited 0.
func promtool(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(tooltest.Require(t, tooltest.Promtool), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatalf("running promtool %v: %v", args, err)
	}
	return string(out), err == nil
}

// rulesTree writes a copy of the unit test files to a new directory, with
// groups as files/prometheus-rules.yaml beside them, where their rule_files
// point; it returns the directory of the test files.
func rulesTree(t *testing.T, groups ruleGroups) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"files", "testdata"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := yaml.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, rulesFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{rulesTestShared, rulesTestPlain, rulesTestChart} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "testdata")
}

// TestRulesCheck runs `promtool check rules` on the rules file, the plain
// copy and the chart's rendering: valid PromQL, valid templates.
func TestRulesCheck(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rendered := filepath.Join(rulesTree(t, renderedRules(t, nil)), "..", rulesFile)
	for _, f := range []string{abs(rulesFile), abs(plainRulesFile), rendered} {
		if out, ok := promtool(t, ".", "check", "rules", f); !ok {
			t.Errorf("promtool check rules %s:\n%s", f, out)
		}
	}
}

// TestRulesUnitTests runs the promtool unit tests on the plain rules and on
// the chart's rendering (release "restaurants" in namespace "lunch").
func TestRulesUnitTests(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		for _, f := range []string{rulesTestShared, rulesTestPlain} {
			out, ok := promtool(t, "testdata", "test", "rules", filepath.Base(f))
			if !ok {
				t.Errorf("promtool test rules %s:\n%s", f, out)
			}
		}
	})
	t.Run("chart", func(t *testing.T) {
		dir := rulesTree(t, renderedRules(t, nil))
		for _, f := range []string{rulesTestShared, rulesTestChart} {
			out, ok := promtool(t, dir, "test", "rules", filepath.Base(f))
			if !ok {
				t.Errorf("promtool test rules %s on the chart's rendering:\n%s", f, out)
			}
		}
	})
}

// TestRulesUnitTestsCanFail proves that the unit tests hold every alert to
// account: with every expression replaced by one that never fires, promtool
// must report a failure for each alert (each has a firing case); with one
// that always fires, again for each alert (each has a quiet case).
func TestRulesUnitTestsCanFail(t *testing.T) {
	src := sourceRules(t)
	for _, m := range []struct{ name, expr, want string }{
		{"never fires", "vector(0) > 1", "got:[]"},
		{"always fires", "vector(1)", "exp:[]"},
	} {
		t.Run(m.name, func(t *testing.T) {
			broken := ruleGroups{}
			for _, g := range src.Groups {
				bg := ruleGroup{Name: g.Name, Interval: g.Interval}
				for _, r := range g.Rules {
					r.Expr = m.expr
					bg.Rules = append(bg.Rules, r)
				}
				broken.Groups = append(broken.Groups, bg)
			}
			dir := rulesTree(t, broken)
			out, ok := promtool(t, dir, "test", "rules", filepath.Base(rulesTestShared), filepath.Base(rulesTestPlain))
			if ok {
				t.Fatalf("promtool passed with every expression %q:\n%s", m.expr, out)
			}
			for _, a := range src.alerts() {
				if !failedFor(out, a.Alert, m.want) {
					t.Errorf("with every expression %q, no unit test of %s failed with %s", m.expr, a.Alert, m.want)
				}
			}
		})
	}
}

// failedFor reports whether promtool's output holds a failed case of alert
// whose report contains want.
func failedFor(out, alert, want string) bool {
	for _, c := range strings.Split(out, "alertname: ")[1:] {
		if strings.HasPrefix(c, alert+",") && strings.Contains(c, want) {
			return true
		}
	}
	return false
}
