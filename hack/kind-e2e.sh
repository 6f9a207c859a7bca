#!/usr/bin/env bash
# kind-e2e.sh: the chart on a real kind cluster (make kind-e2e).
#
#   1. cluster up: go run ./hack/kind up (reuses a healthy cluster; starts a
#      Docker engine and builds the node image when needed)
#   2. go test -tags e2e ./hack/e2e/: TestKindCluster (the cluster itself)
#      and TestChartOnKind (images built and kind-loaded, helm install, helm
#      test, load through a port-forward and in the cluster, HPA scale-out and
#      rolling upgrade without and with the shared cache tier, one pod's
#      capacity, pod loss, drain and node loss under load, the NetworkPolicies,
#      the tier's engine lost under load; a summary table and an HTML report)
#   3. cluster down, unless KEEP_CLUSTER=1
#
# Environment: KIND_CLUSTER (default restaurants), KIND_WORKERS (default 2;
# 0: a single node, and the stages that need workers are skipped), KEEP_CLUSTER=1,
# E2E_RUN (go test -run pattern), E2E_TIMEOUT (default 50m), and the test's
# own RESTAURANTS_E2E_* knobs (see hack/e2e/chart_test.go); the summary
# (RESTAURANTS_E2E_SUMMARY) and the report (RESTAURANTS_E2E_REPORT) go to
# bin/kind-e2e/ unless set.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

name=${KIND_CLUSTER:-restaurants}
workers=${KIND_WORKERS:-2}
run=${E2E_RUN:-'^(TestKindCluster|TestChartOnKind)$'}
timeout=${E2E_TIMEOUT:-50m}
GO=${GO:-go}

say() { printf 'kind-e2e: [%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

command -v "$GO" >/dev/null 2>&1 || {
	say "error: go is not on PATH: install Go 1.26 (https://go.dev/dl/)"
	exit 1
}

export RESTAURANTS_E2E_SUMMARY=${RESTAURANTS_E2E_SUMMARY:-$root/bin/kind-e2e/summary.md}
export RESTAURANTS_E2E_REPORT=${RESTAURANTS_E2E_REPORT:-$root/bin/kind-e2e/report.html}
mkdir -p "$(dirname "$RESTAURANTS_E2E_SUMMARY")" "$(dirname "$RESTAURANTS_E2E_REPORT")"
rm -f "$RESTAURANTS_E2E_SUMMARY" "$RESTAURANTS_E2E_REPORT" # this run's, not an older one's

start=$SECONDS
down() {
	rc=$?
	for f in "$RESTAURANTS_E2E_SUMMARY" "$RESTAURANTS_E2E_REPORT"; do
		[ -s "$f" ] && say "written: $f"
	done
	if [ "${KEEP_CLUSTER:-}" = 1 ]; then
		say "KEEP_CLUSTER=1: keeping cluster $name (kubectl context kind-$name; delete it with make kind-down)"
	else
		say "deleting cluster $name (KEEP_CLUSTER=1 keeps it)"
		"$GO" run ./hack/kind down --name "$name" || say "warning: could not delete cluster $name"
	fi
	say "done in $((SECONDS - start))s, exit $rc"
	exit "$rc"
}
trap down EXIT

say "cluster $name: up with $workers workers (reused when healthy)"
hack/docker-engine.sh
"$GO" run ./hack/kind up --name "$name" --config k8s/kind.yaml --workers "$workers"
say "cluster $name up after $((SECONDS - start))s; running the e2e tests ($run)"
RESTAURANTS_KIND_NAME=$name "$GO" test -tags e2e -count=1 -v -timeout "$timeout" -run "$run" ./hack/e2e/
