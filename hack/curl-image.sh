#!/usr/bin/env bash
# curl-image.sh: build a small image holding this host's curl and a POSIX
# shell with exactly the shared libraries they load, tagged $IMAGE (default
# restaurants-curl:dev). The chart's `helm test` pod runs curl from it
# (--set test.image.repository=restaurants-curl,test.image.tag=dev) where
# curlimages/curl cannot be pulled. Needs no registry: FROM scratch.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

image=${IMAGE:-restaurants-curl:dev}
say() { printf 'image-curl: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

if [ -z "${DOCKER:-}" ]; then
	if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-1}

curl_bin=$(command -v curl) || die "curl is not installed: apt-get install curl"
sh_bin=$(readlink -f "$(command -v dash || command -v sh)")
command -v ldd >/dev/null 2>&1 || die "ldd is not installed: apt-get install libc-bin"
if ! "$DOCKER" info >/dev/null 2>&1; then
	say "no Docker engine answers; starting one with hack/docker-engine.sh"
	hack/docker-engine.sh || die "could not start a Docker engine (see hack/docker-engine.sh)"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/ssl/certs"
cp "$curl_bin" "$ctx/rootfs/usr/bin/curl"
cp "$sh_bin" "$ctx/rootfs/bin/sh"
[ -r /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
# Every shared object the two binaries load, the dynamic loader included,
# at the path the loader looks for it.
for lib in $( (ldd "$curl_bin" && ldd "$sh_bin") | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
	mkdir -p "$ctx/rootfs$(dirname "$lib")"
	cp -L "$lib" "$ctx/rootfs$lib"
done
chmod 1777 "$ctx/rootfs/tmp"

version=$("$curl_bin" --version | awk 'NR == 1 {print $2}')
"$DOCKER" build -t "$image" -f - "$ctx" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
LABEL org.opencontainers.image.title="restaurants-curl" \
      org.opencontainers.image.description="curl $version and a POSIX shell, for the restaurants chart's helm test" \
      org.opencontainers.image.version="$version"
USER 65532:65532
ENTRYPOINT ["/usr/bin/curl"]
DOCKERFILE

"$DOCKER" run --rm "$image" --version | head -1 >&2
size=$("$DOCKER" image inspect --format '{{.Size}}' "$image")
say "built $image: $((size / 1000000)) MB ($size bytes)"
