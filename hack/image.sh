#!/usr/bin/env bash
# image.sh: build the restaurants container image (relay entrypoint, with
# restaurant-menu, menu-api and loadtest), tagged $IMAGE (default
# ghcr.io/scilifelab/restaurants:VERSION, the chart's default image, so that
# a kind-loaded build runs under `helm install restaurants ./charts`).
# The four are one multi-call binary, /usr/local/bin/restaurants, with
# relative symlinks menu-api, restaurant-menu and loadtest beside it.
#
#   hack/image.sh                 pick the way that works here
#   IMAGE_BUILD=host hack/image.sh      binary built on this host, FROM scratch
#   IMAGE_BUILD=registry hack/image.sh  Go builder image -> distroless (needs a registry)
#
# "auto" (the default) uses the registry build when its base images are present
# locally or can be pulled, else builds the binary here (CGO_ENABLED=0,
# -trimpath, stripped, version stamped) and copies it and its symlinks with
# this host's CA certificates into an image built FROM scratch, which needs no
# registry.
# A Docker engine is started with hack/docker-engine.sh when none answers.
#
# Environment: IMAGE, IMAGE_BUILD (auto|host|registry), VERSION (default: the
# appVersion in charts/Chart.yaml), GO_VERSION (builder tag, default 1.26),
# DOCKER (client).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

version=${VERSION:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' charts/Chart.yaml)}
[ -n "$version" ] || die "no appVersion in charts/Chart.yaml and no VERSION"
image=${IMAGE:-ghcr.io/scilifelab/restaurants:$version}
mode=${IMAGE_BUILD:-auto}
go_version=${GO_VERSION:-1.26}
builder_image="golang:${go_version}"
runtime_image="gcr.io/distroless/static-debian12:nonroot"
ca_file=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}

say() { printf 'image: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# Debian's docker client has BuildKit built in, so with DOCKER_BUILDKIT=1 only
# the stages the target needs are built. Other clients fall back to their
# own builder; the Dockerfile's stage order keeps the host build offline.
if [ -z "${DOCKER:-}" ]; then
	if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-1}

command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go 1.26 (https://go.dev/dl/)"
if ! "$DOCKER" info >/dev/null 2>&1; then
	say "no Docker engine answers; starting one with hack/docker-engine.sh"
	hack/docker-engine.sh || die "could not start a Docker engine (see hack/docker-engine.sh)"
fi

revision=$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
labels=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created")

have_image() {
	"$DOCKER" image inspect "$1" >/dev/null 2>&1 || "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

if [ "$mode" = auto ]; then
	if have_image "$builder_image" && have_image "$runtime_image"; then
		mode=registry
	else
		say "$builder_image or $runtime_image is neither here nor pullable: building the binaries on this host"
		mode=host
	fi
fi

case "$mode" in
registry)
	say "building $image with the $builder_image builder (target registry)"
	"$DOCKER" build --target registry --build-arg "GO_VERSION=$go_version" "${labels[@]}" -t "$image" .
	;;
host)
	[ -r "$ca_file" ] || die "$ca_file not found: install Debian's ca-certificates (apt-get install ca-certificates) or set CA_CERTIFICATES"
	arch=$("$DOCKER" version --format '{{.Server.Arch}}' 2>/dev/null || go env GOARCH)
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT
	mkdir -p "$ctx/bin"
	say "building the linux/$arch binary (version $version)"
	CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
		-ldflags "-s -w -X main.version=$version" -o "$ctx/bin/restaurants" ./cmd/restaurants
	# The name it is started under picks the program: COPY keeps these symlinks.
	for name in menu-api restaurant-menu loadtest; do
		ln -s restaurants "$ctx/bin/$name"
	done
	cp "$ca_file" "$ctx/ca-certificates.crt"
	say "building $image FROM scratch (target host)"
	"$DOCKER" build --target host -f Dockerfile "${labels[@]}" -t "$image" "$ctx"
	;;
*)
	die "IMAGE_BUILD=$mode: want auto, host or registry"
	;;
esac

size=$("$DOCKER" image inspect --format '{{.Size}}' "$image")
say "built $image: $((size / 1000000)) MB ($size bytes)"
