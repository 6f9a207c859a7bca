#!/usr/bin/env bash
# test-deps.sh: install the Debian packages whose programs the tests run for
# real, when they are missing (make test-deps; make test runs it first).
# With program:package arguments it installs only those (make bench:
# nginx:nginx-light redis-server:redis-server).
#
#   redis-server   the shared cache tier's engine (redis-server)
#   prometheus     promtool for the alert rules' unit tests, and prometheus
#                  itself for the dashboard and alert queries
#   chromium       headless, for what a browser must see (CORS, reports)
#   nginx-light    the benchmark's reference proxy cache (nginx -t in tests)
#   ShellCheck     the workflows' run: scripts, through actionlint (make lint-workflows)
#
# Packages are installed with --no-install-recommends, and no service is
# started by their install scripts (the tests start their own servers on
# loopback ports). Without root and without sudo the script says what to
# install and exits 0, so that the tests themselves can say which of them
# skip; under CI (CI=true) a failed install is an error.
set -euo pipefail

say() { printf 'test-deps: %s\n' "$*" >&2; }

# program:package pairs
wanted=(redis-server:redis-server promtool:prometheus prometheus:prometheus chromium:chromium nginx:nginx-light shellcheck:shellcheck)
if [ $# -gt 0 ]; then
	wanted=("$@")
fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

missing=()
for pair in "${wanted[@]}"; do
	prog=${pair%%:*} pkg=${pair##*:}
	if ! have "$prog" && [[ " ${missing[*]} " != *" $pkg "* ]]; then
		missing+=("$pkg")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

ci=false
case "${CI:-}" in 1 | true | TRUE | True) ci=true ;; esac

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo=(sudo)
else
	say "missing: ${missing[*]}; install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
	say "(the tests that need them skip until then, and make bench runs without them)"
	$ci && exit 1
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	say "missing: ${missing[*]}, and there is no apt-get here: install them with your package manager"
	$ci && exit 1
	exit 0
fi

say "installing ${missing[*]} (Debian packages the tests and the benchmark run)"
# policy-rc.d 101: package scripts must not start redis or prometheus services.
policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
	made_policy=true
fi
cleanup() { if $made_policy; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

install() {
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if ! install; then
	say "apt-get install failed; updating the package lists and trying again"
	"${sudo[@]}" apt-get update -qq
	if ! install; then
		say "could not install ${missing[*]}: install them by hand (sudo apt-get install --no-install-recommends ${missing[*]})"
		$ci && exit 1
		exit 0
	fi
fi
say "installed ${missing[*]}"
