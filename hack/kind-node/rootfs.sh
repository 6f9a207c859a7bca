#!/usr/bin/env bash
# rootfs.sh: make a Debian root filesystem with debootstrap and import it
# into Docker as an image.
#
#   hack/kind-node/rootfs.sh node|proxy REPOSITORY
#
# prints the imported image (REPOSITORY:KIND-SUITE-KEY, KEY a hash of the
# package list) on stdout; an image already imported is reused.
#
#   node   the kind node's base: systemd, containerd, runc, iptables/nftables,
#          conntrack, iproute2, CNI plugins, mount tools, ca-certificates and
#          the rest of what kind's images/base installs.
#   proxy  a minimal base for the kube-proxy image: iptables, nftables,
#          conntrack, kmod.
#
# Packages come from this machine's configured apt mirror (read from
# /etc/apt/sources.list*), suite $DEBIAN_SUITE. The rootfs tarball is cached
# under the kind-node cache; nothing is written into the repository.
set -euo pipefail
# shellcheck source=hack/kind-node/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kind=${1:?usage: rootfs.sh node|proxy REPOSITORY}
repository=${2:?usage: rootfs.sh node|proxy REPOSITORY}

# Packages of kind's images/base (the same list, including what rootless and
# remote storage use), plus containerd, runc and the CNI plugins from Debian.
node_packages=(
	systemd systemd-sysv dbus
	conntrack iptables nftables iproute2 ethtool util-linux mount kmod
	libseccomp2 pigz fuse-overlayfs
	nfs-common open-iscsi
	e2fsprogs
	bash ca-certificates curl jq procps
	containerd runc containernetworking-plugins
	socat
)
proxy_packages=(iptables nftables conntrack kmod ca-certificates)

case "$kind" in
node) packages=("${node_packages[@]}") ;;
proxy) packages=("${proxy_packages[@]}") ;;
*) die "unknown rootfs kind $kind (node or proxy)" ;;
esac

# apt_mirror: the first Debian archive URI configured on this machine (not
# the security archive).
apt_mirror() {
	local uri
	uri=$(
		{
			grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
			grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
		} | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
	)
	[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*: set DEBIAN_MIRROR"
	echo "${uri%/}"
}

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	log "installing Debian's debootstrap (apt-get)"
	if ! apt-cache policy debootstrap 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
		die "apt-get install debootstrap failed"
fi
need debootstrap docker
mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
list=$(IFS=,; echo "${packages[*]}")
key=$(printf '%s\n' "$DEBIAN_SUITE" "$kind" "$list" | sha256sum | cut -c1-12)
tarball=$node_cache/rootfs/$kind-$DEBIAN_SUITE-$key.tar
image=$repository:$kind-$DEBIAN_SUITE-$key
if docker image inspect "$image" >/dev/null 2>&1; then
	log "rootfs image $image exists"
	echo "$image"
	exit 0
fi

# cleanup_rootfs: debootstrap may leave /proc, /sys or a bind-mounted /dev
# behind on failure: unmount them, and never let rm cross into another file
# system.
cleanup_rootfs() {
	local m
	for m in proc sys dev/pts dev; do
		umount -R "$work/root/$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$work"
}

if [ ! -f "$tarball" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/kind-rootfs.XXXXXX")
	trap cleanup_rootfs EXIT
	log "debootstrap $DEBIAN_SUITE ($kind, ${#packages[@]} packages) from $mirror"
	debootstrap --variant=minbase --include="$list" "$DEBIAN_SUITE" "$work/root" "$mirror" \
		>"$work/debootstrap.log" 2>&1 || {
		tail -n 30 "$work/debootstrap.log" >&2
		die "debootstrap failed (full log above)"
	}
	# slim: apt lists, caches, docs are not needed at run time
	rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin \
		"$work/root/var/cache/apt/archives/"*.deb "$work/root/usr/share/doc/"* \
		"$work/root/usr/share/man/"* "$work/root/usr/share/locale/"*
	mkdir -p "$(dirname "$tarball")"
	tar -C "$work/root" --numeric-owner --one-file-system -cf "$tarball.tmp" .
	mv -f "$tarball.tmp" "$tarball"
	log "rootfs tarball: $tarball ($(du -h "$tarball" | cut -f1))"
fi
log "docker import $tarball as $image"
docker import "$tarball" "$image" >/dev/null
echo "$image"
