#!/usr/bin/env bash
# manifests.sh: write k8s/restaurants.yaml, the chart's plain manifests for
# `kubectl apply`, with the helm pinned in go.mod (go tool helm), and
# k8s/prometheus-rules.yaml, the chart's alerting rules for a Prometheus
# without the operator. Tests in charts/ fail when they and the chart disagree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=k8s/restaurants.yaml
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
	printf '# Plain manifests for kubectl apply, generated from charts/ by `make manifests`:\n'
	printf '#   go tool helm template restaurants ./charts --namespace default --skip-tests --set admin.generateToken=false\n'
	printf '# Do not edit: change the chart and regenerate (a test checks they agree).\n'
	go tool helm template restaurants ./charts --namespace default --skip-tests --set admin.generateToken=false
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$out"
echo "wrote $out"

# The alerting rules for a Prometheus without the operator: the chart's rules
# file as it is (charts/monitoring_test.go checks they agree).
rules=k8s/prometheus-rules.yaml
{
	printf '# Alerting rules of the restaurants relay for a Prometheus without the operator\n'
	printf '# (rule_files: in prometheus.yml; the relays scraped by a job named "restaurants").\n'
	printf '# Copied from charts/files/prometheus-rules.yaml by `make manifests`; do not edit\n'
	printf '# here (a test checks they agree).\n'
	cat charts/files/prometheus-rules.yaml
} >"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$rules"
echo "wrote $rules"
