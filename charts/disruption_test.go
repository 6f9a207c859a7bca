package charts

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestDisruptionBudgetNeverBlocksADrain renders the budget for the fewest
// replicas each value set allows and checks that at least one relay pod
// may be evicted then, computed the way the disruption controller does.
func TestDisruptionBudgetNeverBlocksADrain(t *testing.T) {
	for name, tc := range map[string]struct {
		vals   map[string]any
		fewest int
	}{
		"defaults":                      {nil, 2},
		"one replica, autoscaling":      {map[string]any{"autoscaling": map[string]any{"minReplicas": 1}}, 1},
		"one replica, no autoscaling":   {map[string]any{"autoscaling": map[string]any{"enabled": false}, "replicaCount": 1}, 1},
		"minAvailable below the fewest": {map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 2}, "autoscaling": map[string]any{"minReplicas": 3}}, 3},
		"minAvailable percentage":       {map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "50%"}}, 2},
		"maxUnavailable percentage":     {map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": "10%"}, "autoscaling": map[string]any{"minReplicas": 1}}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			r := render(t, tc.vals)
			pdb, ok := r.pdbs[relayName]
			if !ok {
				t.Fatalf("no PodDisruptionBudget %q", relayName)
			}
			if got := evictable(t, pdb, tc.fewest); got < 1 {
				t.Errorf("with %d relay pods the budget %s allows %d evictions: a drain would block", tc.fewest, budget(pdb), got)
			}
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
				t.Errorf("unhealthyPodEvictionPolicy = %v, want AlwaysAllow (a pod that is not Ready must never block a drain)", p)
			}
		})
	}
}

// evictable is how many of n healthy pods the budget lets go at once:
// percentages round up, as in the disruption controller.
func evictable(t *testing.T, pdb *policyv1.PodDisruptionBudget, n int) int {
	t.Helper()
	if v := pdb.Spec.MinAvailable; v != nil {
		keep, err := intstr.GetScaledValueFromIntOrPercent(v, n, true)
		if err != nil {
			t.Fatal(err)
		}
		return n - keep
	}
	if v := pdb.Spec.MaxUnavailable; v != nil {
		down, err := intstr.GetScaledValueFromIntOrPercent(v, n, true)
		if err != nil {
			t.Fatal(err)
		}
		return min(down, n)
	}
	t.Fatalf("budget %s sets neither minAvailable nor maxUnavailable", pdb.Name)
	return 0
}

func budget(pdb *policyv1.PodDisruptionBudget) string {
	if v := pdb.Spec.MinAvailable; v != nil {
		return "minAvailable " + v.String()
	}
	if v := pdb.Spec.MaxUnavailable; v != nil {
		return "maxUnavailable " + v.String()
	}
	return "(none)"
}

func TestDefaultBudgetIsMaxUnavailableOne(t *testing.T) {
	pdb := render(t, nil).pdbs[relayName]
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Fatalf("default budget: %+v, want maxUnavailable 1 only", pdb)
	}
	pdb = render(t, map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1}}).pdbs[relayName]
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("minAvailable 1 given: budget %s, want minAvailable 1 instead of maxUnavailable", budget(pdb))
	}
}

// TestBlockingBudgetsAreRefused: a budget that could never allow an
// eviction at the fewest replicas fails the install with a clear message.
func TestBlockingBudgetsAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want []string
	}{
		{"minAvailable 1 over minReplicas 1", map[string]any{"autoscaling": map[string]any{"minReplicas": 1}, "podDisruptionBudget": map[string]any{"minAvailable": 1}},
			[]string{"podDisruptionBudget.minAvailable (1)", "autoscaling.minReplicas", "drain"}},
		{"minAvailable 1 over replicaCount 1", map[string]any{"autoscaling": map[string]any{"enabled": false}, "replicaCount": 1, "podDisruptionBudget": map[string]any{"minAvailable": 1}},
			[]string{"podDisruptionBudget.minAvailable (1)", "replicaCount", "drain"}},
		{"minAvailable equal to minReplicas", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 2}},
			[]string{"keeps 2 of the 2"}},
		{"minAvailable percentage rounding up to all", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "51%"}},
			[]string{"podDisruptionBudget.minAvailable (51%)", "keeps 2 of the 2"}},
		{"minAvailable 100%", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "100%"}, "autoscaling": map[string]any{"minReplicas": 5, "maxReplicas": 6}},
			[]string{"keeps 5 of the 5"}},
		{"maxUnavailable zero", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": 0}}, []string{"/podDisruptionBudget/maxUnavailable"}},
		{"maxUnavailable 0%", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": "0%"}}, []string{"/podDisruptionBudget/maxUnavailable"}},
		{"no budget at all", map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": nil}}, []string{"set maxUnavailable"}},
		{"unknown eviction policy", map[string]any{"podDisruptionBudget": map[string]any{"unhealthyPodEvictionPolicy": "Never"}}, []string{"/podDisruptionBudget/unhealthyPodEvictionPolicy"}},
		{"negative toleration", map[string]any{"nodeLossTolerationSeconds": -1}, []string{"/nodeLossTolerationSeconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := renderError(t, tc.vals).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%s", w, msg)
				}
			}
		})
	}
	// without a budget, nothing is refused
	render(t, map[string]any{"podDisruptionBudget": map[string]any{"enabled": false, "minAvailable": 1}, "autoscaling": map[string]any{"minReplicas": 1}})
}

// TestNodeLossTolerations: relay pods leave an unreachable or not-ready
// node after nodeLossTolerationSeconds, not Kubernetes' default 300 s, and
// tolerations given for those keys win.
func TestNodeLossTolerations(t *testing.T) {
	keys := []string{"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}
	find := func(ts []corev1.Toleration, key string) []corev1.Toleration {
		var out []corev1.Toleration
		for _, tol := range ts {
			if tol.Key == key {
				out = append(out, tol)
			}
		}
		return out
	}
	spec := render(t, nil).deployments[relayName].Spec.Template.Spec
	for _, k := range keys {
		got := find(spec.Tolerations, k)
		if len(got) != 1 || got[0].Effect != corev1.TaintEffectNoExecute || got[0].Operator != corev1.TolerationOpExists ||
			got[0].TolerationSeconds == nil || *got[0].TolerationSeconds != 30 {
			t.Errorf("toleration for %s: %+v, want one NoExecute Exists with tolerationSeconds 30", k, got)
		}
	}

	spec = render(t, map[string]any{"nodeLossTolerationSeconds": nil}).deployments[relayName].Spec.Template.Spec
	if len(spec.Tolerations) != 0 {
		t.Errorf("nodeLossTolerationSeconds null: tolerations %+v, want none (the cluster's default)", spec.Tolerations)
	}

	own := map[string]any{"key": keys[0], "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
	other := map[string]any{"key": "dedicated", "operator": "Equal", "value": "lunch", "effect": "NoSchedule"}
	spec = render(t, map[string]any{"tolerations": []any{own, other}}).deployments[relayName].Spec.Template.Spec
	if got := find(spec.Tolerations, keys[0]); len(got) != 1 || *got[0].TolerationSeconds != 5 {
		t.Errorf("given toleration for %s: %+v, want only the given one (5 s)", keys[0], got)
	}
	if got := find(spec.Tolerations, keys[1]); len(got) != 1 || *got[0].TolerationSeconds != 30 {
		t.Errorf("toleration for %s: %+v, want the chart's (30 s) beside the given ones", keys[1], got)
	}
	if len(find(spec.Tolerations, "dedicated")) != 1 {
		t.Errorf("tolerations %+v lost the given dedicated=lunch", spec.Tolerations)
	}
}

// TestSpreadHonoursTaints: the default spread ignores nodes the pods cannot
// run on, so a cordoned node does not hold replacements back.
func TestSpreadHonoursTaints(t *testing.T) {
	tsc := render(t, nil).deployments[relayName].Spec.Template.Spec.TopologySpreadConstraints
	i := slices.IndexFunc(tsc, func(c corev1.TopologySpreadConstraint) bool { return c.TopologyKey == corev1.LabelHostname })
	if i < 0 {
		t.Fatalf("no spread over %s: %+v", corev1.LabelHostname, tsc)
	}
	c := tsc[i]
	if c.NodeTaintsPolicy == nil || *c.NodeTaintsPolicy != corev1.NodeInclusionPolicyHonor {
		t.Errorf("nodeTaintsPolicy = %v, want Honor", c.NodeTaintsPolicy)
	}
	if c.WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("whenUnsatisfiable = %s, want ScheduleAnyway (a hard spread can leave replacements Pending during a drain)", c.WhenUnsatisfiable)
	}
}
