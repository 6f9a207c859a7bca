#!/usr/bin/env bash
# curl-image.sh: build a small image holding this host's curl and a POSIX
# shell, tagged $IMAGE (default restaurants-curl:dev). The chart's
# `helm test` pod runs curl from it (--set test.image.repository=restaurants-curl,
# test.image.tag=dev) where curlimages/curl cannot be pulled.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sh=$(basename "$(readlink -f "$(command -v dash || command -v sh)")")
TITLE=restaurants-curl DESCRIPTION="curl, a POSIX shell and sleep, for the restaurants chart's helm test and the e2e probes" APT="curl" \
	exec hack/host-image.sh "${IMAGE:-restaurants-curl:dev}" /usr/bin/curl curl "$sh" sleep -- "sh=$sh"
