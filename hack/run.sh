#!/usr/bin/env bash
# Runs the relay on this machine: with the stand-in upstream (the default, so
# it answers with no internet) or, when UPSTREAM is set, in front of that API.
# Ctrl-C stops everything it started.
set -euo pipefail

bin=${BIN:-bin}
listen=${LISTEN:-127.0.0.1:8000}
admin=${ADMIN_LISTEN:-127.0.0.1:9090}
standin=${MENU_API_LISTEN:-127.0.0.1:8080}

pids=()
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

upstream=${UPSTREAM:-}
if [[ -z "$upstream" ]]; then
	"$bin/menu-api" --listen "$standin" &
	pids+=($!)
	upstream="http://$standin/api/"
	# Wait until it accepts connections (bash's /dev/tcp: no curl needed).
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/${standin%:*}/${standin##*:}") 2>/dev/null && break
		sleep 0.1
	done
	echo "stand-in upstream on http://$standin/api/" >&2
fi

"$bin/restaurants" --listen "$listen" --admin-listen "$admin" --upstream "$upstream" --drain-delay 0s "$@" &
pids+=($!)
echo "relay on http://$listen/ (try: curl http://$listen/restaurant), admin on http://$admin/metrics; Ctrl-C stops" >&2
wait -n "${pids[@]}"
