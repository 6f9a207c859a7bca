#!/usr/bin/env bash
# valkey-image.sh: build an image of Debian's redis-server (the engine of the
# shared cache tier), tagged $IMAGE (default restaurants-valkey:dev), for
# the chart's valkey.enabled where valkey/valkey cannot be pulled:
#   --set valkey.image.repository=restaurants-valkey,valkey.image.tag=dev
# valkey-server is a link to redis-server, so the chart's default command
# runs it; redis-cli is there for a look inside.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TITLE=restaurants-valkey DESCRIPTION="Debian's redis-server, the restaurants chart's shared cache engine" APT="redis-server redis-tools" \
	exec hack/host-image.sh "${IMAGE:-restaurants-valkey:dev}" /usr/bin/redis-server redis-server redis-cli -- valkey-server=redis-server
