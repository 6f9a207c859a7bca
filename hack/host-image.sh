#!/usr/bin/env bash
# host-image.sh: build a small FROM scratch image of programs installed on
# this host, with exactly the shared libraries they load, for kind where no
# registry can be pulled from. Needs no registry.
#
#   hack/host-image.sh IMAGE ENTRYPOINT PROGRAM... [-- NAME=PROGRAM...]
#
# Each PROGRAM is found on PATH (or in /usr/sbin) and copied to /usr/bin;
# NAME=PROGRAM after -- adds /usr/bin/NAME as a link to /usr/bin/PROGRAM.
# ENTRYPOINT is a program's path in the image. Environment: TITLE and
# DESCRIPTION (OCI labels), VERSION (its label, default the first
# program's --version), APT (Debian packages to install when a program is
# missing), USER_ID (default 65532). The image has /tmp and /data,
# writable by that user.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf '%s: %s\n' "${TITLE:-host-image}" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

(($# >= 3)) || die "usage: hack/host-image.sh IMAGE ENTRYPOINT PROGRAM... [-- NAME=PROGRAM...]"
image=$1 entrypoint=$2
shift 2
programs=() links=()
while (($#)); do
	if [ "$1" = -- ]; then
		shift
		links=("$@")
		break
	fi
	programs+=("$1")
	shift
done

if [ -z "${DOCKER:-}" ]; then
	if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-1}

find_program() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }

missing=()
for p in "${programs[@]}"; do find_program "$p" >/dev/null || missing+=("$p"); done
if ((${#missing[@]})) && [ -n "${APT:-}" ]; then
	say "${missing[*]} not installed; installing the Debian packages $APT"
	if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT >/dev/null ||
		die "could not install $APT (try: sudo apt-get install $APT)"
fi
command -v ldd >/dev/null 2>&1 || die "ldd is not installed: apt-get install libc-bin"
if ! "$DOCKER" info >/dev/null 2>&1; then
	say "no Docker engine answers; starting one with hack/docker-engine.sh"
	hack/docker-engine.sh || die "could not start a Docker engine (see hack/docker-engine.sh)"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/data" "$ctx/rootfs/etc/ssl/certs"
paths=()
for p in "${programs[@]}"; do
	path=$(find_program "$p") || die "$p is not installed${APT:+ (Debian packages: $APT)}"
	path=$(readlink -f "$path")
	paths+=("$path")
	cp "$path" "$ctx/rootfs/usr/bin/$p"
done
[[ " ${links[*]} " == *" sh="* ]] && ln -s ../usr/bin/sh "$ctx/rootfs/bin/sh"
for l in "${links[@]}"; do
	ln -s "${l#*=}" "$ctx/rootfs/usr/bin/${l%%=*}"
done
[ -r /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
# Every shared object the programs load, the dynamic loader included, at
# the path the loader looks for it.
for lib in $(for p in "${paths[@]}"; do ldd "$p"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
	mkdir -p "$ctx/rootfs$(dirname "$lib")"
	cp -L "$lib" "$ctx/rootfs$lib"
done
chmod 1777 "$ctx/rootfs/tmp" "$ctx/rootfs/data"

user=${USER_ID:-65532}
version=${VERSION:-$("${paths[0]}" --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1 || true)}
"$DOCKER" build -t "$image" -f - "$ctx" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="${TITLE:-$image}" \
      org.opencontainers.image.description="${DESCRIPTION:-programs of the host}" \
      org.opencontainers.image.version="${version:-unknown}"
USER $user:$user
ENTRYPOINT ["$entrypoint"]
DOCKERFILE

"$DOCKER" run --rm "$image" --version | head -1 >&2
size=$("$DOCKER" image inspect --format '{{.Size}}' "$image")
say "built $image: $((size / 1000000)) MB ($size bytes)"
