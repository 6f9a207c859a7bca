#!/usr/bin/env bash
# prometheus.sh: a Prometheus without the operator, on this machine, for the
# relay that `make run` starts: Debian's prometheus scraping the relay's admin
# listener every 5 s as the job "restaurants", with the alerting rules of
# k8s/prometheus-rules.yaml, its data in a temporary directory removed on exit.
# Ctrl-C stops it.
#
#   PROMETHEUS_LISTEN  where Prometheus serves its UI and API (127.0.0.1:9091)
#   RELAY_ADMIN        the relays' admin listeners, comma-separated (127.0.0.1:9090)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

listen=${PROMETHEUS_LISTEN:-127.0.0.1:9091}
targets=${RELAY_ADMIN:-127.0.0.1:9090}

prom=$(command -v prometheus || true)
[[ -z "$prom" && -x /usr/bin/prometheus ]] && prom=/usr/bin/prometheus
if [[ -z "$prom" ]]; then
	echo "prometheus: not installed; run \`make test-deps\` or \`sudo apt-get install prometheus\`" >&2
	exit 1
fi

dir=$(mktemp -d)
pid=
stop() {
	trap - INT TERM EXIT
	[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap stop INT TERM EXIT
cp k8s/prometheus-rules.yaml "$dir/restaurants-rules.yaml"
{
	printf 'global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n'
	printf 'rule_files:\n  - restaurants-rules.yaml\n'
	printf 'scrape_configs:\n  - job_name: restaurants\n    static_configs:\n      - targets:\n'
	IFS=, read -ra list <<<"$targets"
	for t in "${list[@]}"; do printf '          - "%s"\n' "$t"; done
} >"$dir/prometheus.yml"

echo "prometheus on http://$listen/ scraping $targets as job \"restaurants\" (alerts: http://$listen/alerts); Ctrl-C stops" >&2
"$prom" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
	--web.listen-address="$listen" --log.level=warn &
pid=$!
wait "$pid"
