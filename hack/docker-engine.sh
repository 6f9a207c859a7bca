#!/usr/bin/env bash
# docker-engine.sh: make sure a Docker engine answers on this machine.
#
#   hack/docker-engine.sh          ensure dockerd runs (install + start when absent)
#   hack/docker-engine.sh status   print whether the engine answers, exit 1 if not
#   hack/docker-engine.sh stop     stop a dockerd that this script started
#
# When `docker info` already answers, nothing is changed. Otherwise:
#   1. Debian's docker.io (and jq, used by the runtime wrapper) are installed
#      with apt-get when dockerd is missing (needs root).
#   2. dockerd is started in the background (no systemd needed), logging to
#      $DOCKERD_LOG (default /var/log/restaurants-dockerd.log).
#   3. If this sandbox's capability bounding set lacks CAP_SYS_RESOURCE (so
#      `docker run --privileged` fails with "unable to apply caps"), the OCI
#      runtime wrapper hack/runc-nosysresource is installed to
#      /usr/local/sbin and registered as dockerd's default runtime. On a
#      normal host plain runc is used.
#   4. It waits until `docker info` answers ($DOCKERD_WAIT seconds, default 60).
#
# Idempotent: safe to call before every docker use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log_file=${DOCKERD_LOG:-/var/log/restaurants-dockerd.log}
pid_file=${DOCKERD_PIDFILE:-/var/run/restaurants-dockerd.pid}
wait_s=${DOCKERD_WAIT:-60}
wrapper_name=runc-nosysresource
wrapper_dst=/usr/local/sbin/$wrapper_name

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

answers() { docker info >/dev/null 2>&1; }

# has_cap_sys_resource: CAP_SYS_RESOURCE (bit 24) in this process's bounding set.
has_cap_sys_resource() {
	local bnd
	bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
	(((0x$bnd >> 24) & 1))
}

install_packages() {
	local need=()
	command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
	command -v docker >/dev/null 2>&1 || need+=(docker.io)
	command -v jq >/dev/null 2>&1 || need+=(jq)
	command -v runc >/dev/null 2>&1 || need+=(runc)
	((${#need[@]})) || return 0
	[ "$(id -u)" = 0 ] || die "dockerd is not installed and this is not root: install Debian's docker.io and jq (sudo apt-get install docker.io jq), or start a Docker engine yourself"
	command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install a Docker engine (docker.io) and jq with your package manager"
	say "installing Debian packages: ${need[*]} (apt-get)"
	if ! apt-cache policy docker.io 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
		die "apt-get install ${need[*]} failed"
}

# refresh_wrapper: keep the installed runtime wrapper equal to this
# repository's (dockerd runs it per container, so an update applies at once).
refresh_wrapper() {
	if [ -f "$wrapper_dst" ] && [ "$(id -u)" = 0 ] && ! cmp -s "$here/$wrapper_name" "$wrapper_dst"; then
		install -m 0755 "$here/$wrapper_name" "$wrapper_dst.new"
		mv -f "$wrapper_dst.new" "$wrapper_dst"
		say "updated $wrapper_dst"
	fi
}

start() {
	refresh_wrapper
	if answers; then
		say "Docker engine already answers ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null || echo '?')); nothing to do"
		return 0
	fi
	install_packages
	[ "$(id -u)" = 0 ] || die "the Docker engine does not answer and starting dockerd needs root"
	if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		say "dockerd (pid $(cat "$pid_file")) is running but does not answer yet; waiting"
	else
		local args=(--host unix:///var/run/docker.sock)
		if has_cap_sys_resource; then
			say "CAP_SYS_RESOURCE is available: dockerd uses plain runc"
		else
			install -m 0755 "$here/$wrapper_name" "$wrapper_dst"
			args+=(--add-runtime "$wrapper_name=$wrapper_dst" --default-runtime "$wrapper_name")
			say "CAP_SYS_RESOURCE is missing from this sandbox's bounding set:"
			say "  dockerd's default runtime is $wrapper_dst (drops that capability, then runs runc)"
		fi
		mkdir -p "$(dirname "$log_file")"
		say "starting dockerd in the background, log: $log_file"
		# setsid: dockerd outlives this shell; its managed containerd comes with it.
		setsid dockerd "${args[@]}" >>"$log_file" 2>&1 </dev/null &
		echo $! >"$pid_file"
	fi
	local i
	for ((i = 0; i < wait_s; i++)); do
		if answers; then
			say "Docker engine answers after ${i}s ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null))"
			return 0
		fi
		if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
			tail -n 20 "$log_file" >&2 || true
			die "dockerd exited; see $log_file"
		fi
		sleep 1
	done
	tail -n 20 "$log_file" >&2 || true
	die "dockerd did not answer within ${wait_s}s; see $log_file"
}

status() {
	if answers; then
		say "Docker engine answers: $(docker info --format '{{.ServerVersion}}, default runtime {{.DefaultRuntime}}, cgroup v{{.CgroupVersion}}')"
		return 0
	fi
	say "Docker engine does not answer"
	return 1
}

stop() {
	if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		local pid
		pid=$(cat "$pid_file")
		say "stopping dockerd (pid $pid)"
		kill "$pid"
		local i
		for ((i = 0; i < 30; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		rm -f "$pid_file"
	else
		say "no dockerd started by this script is running"
	fi
}

case "${1:-start}" in
start) start ;;
status) status ;;
stop) stop ;;
*) die "usage: $0 [start|status|stop]" ;;
esac
