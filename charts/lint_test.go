package charts

import (
	"testing"

	"helm.sh/helm/v4/pkg/action"
)

// TestLintStrict runs Helm's linter as `helm lint --strict` does, with the
// defaults and with the optional parts switched on.
func TestLintStrict(t *testing.T) {
	for name, vals := range valueSets() {
		t.Run(name, func(t *testing.T) {
			l := action.NewLint()
			l.Strict = true
			l.Namespace = testNamespace
			res := l.Run([]string{chartDir}, vals)
			for _, m := range res.Messages {
				t.Logf("lint: %v", m)
			}
			if action.HasWarningsOrErrors(res) {
				t.Errorf("helm lint --strict failed: %v", res.Errors)
			}
		})
	}
}
