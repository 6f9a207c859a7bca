#!/usr/bin/env bash
# manifests.sh: write k8s/restaurants.yaml, the chart's plain manifests for
# `kubectl apply`, with the helm pinned in go.mod (go tool helm).
# charts/manifests_test.go fails when the file and the chart disagree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=k8s/restaurants.yaml
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
	printf '# Plain manifests for kubectl apply, generated from charts/ by `make manifests`:\n'
	printf '#   go tool helm template restaurants ./charts --namespace default --skip-tests\n'
	printf '# Do not edit: change the chart and regenerate (a test checks they agree).\n'
	go tool helm template restaurants ./charts --namespace default --skip-tests
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$out"
echo "wrote $out"
