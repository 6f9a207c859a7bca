# lib.sh: shared helpers for hack/kind-node/*.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034

kind_node_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/kind-node/versions.env
. "$kind_node_dir/versions.env"

# Everything generated lives outside the repository.
cache_root=${RESTAURANTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/restaurants}
node_cache=$cache_root/kind-node

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# stage NAME CMD...: run one build stage with errexit in force, printing its
# start and duration; a failing stage is reported by the EXIT trap below.
stage() {
	stage_name=$1
	stage_start=$(date +%s)
	shift
	log "stage $stage_name: start"
	"$@"
	log "stage $stage_name: done in $(($(date +%s) - stage_start))s"
	stage_name=""
}

stage_report_failure() {
	local rc=$?
	if ((rc != 0)) && [ -n "${stage_name:-}" ]; then
		log "stage $stage_name: FAILED after $(($(date +%s) - stage_start))s (exit $rc)"
	fi
}
trap stage_report_failure EXIT

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "$c is required: $(need_hint "$c")"
	done
}

need_hint() {
	case "$1" in
	go) echo "install Go (https://go.dev/dl) and put it on PATH" ;;
	docker) echo "run hack/docker-engine.sh (installs and starts Debian's docker.io)" ;;
	debootstrap) echo "apt-get install debootstrap" ;;
	jq) echo "apt-get install jq" ;;
	patch) echo "apt-get install patch" ;;
	*) echo "install it with your package manager" ;;
	esac
}
