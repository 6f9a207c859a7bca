#!/usr/bin/env bash
# build.sh: build the kind node image locally, with no container registry.
#
#   hack/kind-node/build.sh           build the image unless it exists; the
#                                     image reference is the last line on stdout
#   hack/kind-node/build.sh --print   print the reference the current inputs
#                                     give, build nothing
#
# Stages (each printed with its duration):
#   1. binaries   Kubernetes, etcd, CoreDNS, metrics-server, crictl, pause,
#                 flannel, kube-network-policies from their Go modules
#                 (build-binaries.sh; cached)
#   2. rootfs     Debian node and kube-proxy bases with debootstrap, docker import
#                 (rootfs.sh; cached)
#   3. images     control-plane and add-on images, named exactly as
#                 `kubeadm config images list` prints, saved as archives
#   4. node       the node image (Dockerfile): kind's base files from the
#                 pinned sigs.k8s.io/kind module, systemd units, binaries
#   5. preload    the image archives imported into the node's containerd
#                 (as kind's own node-image build does) and committed
#
# The tag carries a hash of every input (versions.env, the files of
# hack/kind-node, the runtime wrapper, the Go version), so the image is
# rebuilt only when one of them changes.
set -euo pipefail
# shellcheck source=hack/kind-node/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

repo_root=$(cd "$kind_node_dir/../.." && pwd)
wrapper=$repo_root/hack/runc-nosysresource

# input_hash: one hash over everything that decides the image's content.
input_hash() {
	(
		cd "$repo_root"
		find hack/kind-node -type f ! -name '*_test.go' | LC_ALL=C sort | xargs sha256sum
		sha256sum hack/runc-nosysresource
		go env GOVERSION
	) | sha256sum | cut -c1-12
}

image_ref=${KIND_NODE_IMAGE:-restaurants.local/kind-node:$KUBERNETES_VERSION-$(input_hash)}
if [ "${1:-}" = "--print" ]; then
	echo "$image_ref"
	exit 0
fi

need go docker jq
if docker image inspect "$image_ref" >/dev/null 2>&1; then
	log "node image $image_ref exists (inputs unchanged); nothing to build"
	echo "$image_ref"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "building the node image needs root (debootstrap)"
# the preload stage's container, removed on any exit
build_container=""
on_exit() {
	stage_report_failure
	if [ -n "$build_container" ]; then docker rm -f "$build_container" >/dev/null 2>&1 || true; fi
}
trap on_exit EXIT
total_start=$(date +%s)
log "building node image $image_ref (cache: $node_cache)"

bindir() { echo "$node_cache/build/$1-$2/bin"; }
# patched_bindir NAME VERSION: where build-binaries.sh puts a component built
# with patches/NAME.patch
patched_bindir() { bindir "$1" "$2-$(sha256sum "$kind_node_dir/patches/$1.patch" | cut -c1-8)"; }
k8s_bin=$(bindir kubernetes "$KUBERNETES_VERSION")
ctx=$node_cache/context/$(basename "${image_ref//:/-}")
# set by stage_rootfs: the imported Debian bases
base_node=""
base_proxy=""

stage_binaries() { "$kind_node_dir/build-binaries.sh"; }

stage_rootfs() {
	base_node=$("$kind_node_dir/rootfs.sh" node restaurants.local/kind-rootfs | tail -n 1)
	base_proxy=$("$kind_node_dir/rootfs.sh" proxy restaurants.local/kind-rootfs | tail -n 1)
}

# build_image TAG DIR [ARGS...]: docker build of the Dockerfile in DIR, with
# the legacy builder (no BuildKit or registry needed); its output is shown
# only when it fails.
build_image() {
	local tag=$1 dir=$2 out
	shift 2
	if ! out=$(DOCKER_BUILDKIT=0 docker build -q "$@" -t "$tag" "$dir" 2>&1); then
		printf '%s\n' "$out" >&2
		die "docker build of $tag failed"
	fi
}

# scratch_image TAG BINARY PATH_IN_IMAGE: a FROM scratch image with one
# static binary as its entrypoint.
scratch_image() {
	local tag=$1 bin=$2 dst=$3 d
	d=$(mktemp -d "$ctx/img.XXXXXX")
	cp "$bin" "$d/$(basename "$dst")"
	cat >"$d/Dockerfile" <<DOCKERFILE
FROM scratch
COPY $(basename "$dst") $dst
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["$dst"]
DOCKERFILE
	chmod 0755 "$d/$(basename "$dst")"
	build_image "$tag" "$d"
	rm -rf "$d"
}

# debian_image TAG BINARY PATH_IN_IMAGE: an image on the Debian kube-proxy
# base (iptables, nftables, conntrack and a shell), with kubernetes-sigs'
# iptables-wrapper picking the iptables mode the node uses, and the binary
# as its entrypoint.
debian_image() {
	local tag=$1 bin=$2 dst=$3 d
	d=$(mktemp -d "$ctx/img.XXXXXX")
	cp "$bin" "$d/$(basename "$dst")"
	cp "$kind_node_dir/images/iptables-wrapper" "$d/"
	cat >"$d/Dockerfile" <<DOCKERFILE
FROM $base_proxy
COPY $(basename "$dst") $dst
COPY iptables-wrapper /usr/sbin/iptables-wrapper
RUN for c in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \
      ln -sf iptables-wrapper /usr/sbin/\$c; done
ENTRYPOINT ["$dst"]
DOCKERFILE
	build_image "$tag" "$d"
	rm -rf "$d"
}

stage_images() {
	rm -rf "$ctx"
	mkdir -p "$ctx/images"
	local images img name
	images=$("$k8s_bin/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION")
	images+=$'\n'"registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION"
	# the pod network and NetworkPolicy enforcer (files/kind/manifests/default-cni.yaml)
	images+=$'\n'"restaurants.local/flannel:$FLANNEL_VERSION"
	images+=$'\n'"restaurants.local/kube-network-policies:$KUBE_NETWORK_POLICIES_VERSION"
	for img in $images; do
		name=${img##*/}
		name=${name%%:*}
		case "$name" in
		kube-apiserver | kube-controller-manager | kube-scheduler)
			scratch_image "$img" "$k8s_bin/$name" "/usr/local/bin/$name" ;;
		kube-proxy) debian_image "$img" "$k8s_bin/kube-proxy" /usr/local/bin/kube-proxy ;;
		etcd)
			[ "${img##*:}" = "$ETCD_IMAGE_TAG" ] || die "kubeadm wants $img but versions.env builds etcd $ETCD_IMAGE_TAG"
			scratch_image "$img" "$(bindir etcd "$ETCD_VERSION")/etcd" /usr/local/bin/etcd ;;
		coredns)
			[ "${img##*:}" = "$COREDNS_VERSION" ] || die "kubeadm wants $img but versions.env builds CoreDNS $COREDNS_VERSION"
			scratch_image "$img" "$(bindir coredns "$COREDNS_VERSION")/coredns" /coredns ;;
		pause)
			[ "${img##*:}" = "$PAUSE_VERSION" ] || die "kubeadm wants $img but versions.env builds pause $PAUSE_VERSION"
			scratch_image "$img" "$(bindir pause "$PAUSE_VERSION")/pause" /pause ;;
		metrics-server)
			scratch_image "$img" "$(bindir metrics-server "$METRICS_SERVER_VERSION")/metrics-server" /metrics-server ;;
		flannel)
			debian_image "$img" "$(patched_bindir flannel "$FLANNEL_VERSION")/flanneld" /usr/local/bin/flanneld ;;
		kube-network-policies)
			scratch_image "$img" "$(patched_bindir kube-network-policies "$KUBE_NETWORK_POLICIES_VERSION")/kube-network-policies" /bin/netpol ;;
		*) die "kubeadm wants image $img, which this build does not know how to make" ;;
		esac
		docker save -o "$ctx/images/$name.tar" "$img"
		log "  image $img ($(du -h "$ctx/images/$name.tar" | cut -f1))"
		echo "$img" >>"$ctx/images/list"
	done
}

stage_node() {
	local kind_dir
	local gomod_kind
	gomod_kind=$(cd "$repo_root" && go list -m -f '{{.Version}}' sigs.k8s.io/kind)
	[ "$gomod_kind" = "$KIND_VERSION" ] || die "versions.env has kind $KIND_VERSION but go.mod has $gomod_kind: make them agree"
	kind_dir=$(cd "$repo_root" && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)
	[ -d "$kind_dir/images/base/files" ] || die "sigs.k8s.io/kind@$KIND_VERSION has no images/base/files"
	mkdir -p "$ctx/node/bin"
	cp -r "$kind_dir/images/base/files" "$ctx/node/kind-base"
	cp -r "$kind_node_dir/files" "$ctx/node/files"
	chmod -R u+w "$ctx/node"
	sed -i -e "s/@PAUSE_VERSION@/$PAUSE_VERSION/" "$ctx/node/files/etc/containerd/config.toml"
	sed -i -e "s/@FLANNEL_VERSION@/$FLANNEL_VERSION/" -e "s/@KUBE_NETWORK_POLICIES_VERSION@/$KUBE_NETWORK_POLICIES_VERSION/" \
		"$ctx/node/files/kind/manifests/default-cni.yaml"
	if grep -n '@[A-Z_]*@' "$ctx/node/files/kind/manifests/default-cni.yaml" >&2; then die "placeholders left in default-cni.yaml"; fi
	echo -n "$KUBERNETES_VERSION" >"$ctx/node/files/kind/version"
	cp "$k8s_bin/kubeadm" "$k8s_bin/kubelet" "$k8s_bin/kubectl" "$(bindir crictl "$CRICTL_VERSION")/crictl" "$wrapper" "$ctx/node/bin/"
	cp "$kind_node_dir/Dockerfile" "$ctx/node/Dockerfile"
	build_image "$image_ref-stage" "$ctx/node" --build-arg "BASE=$base_node"
}

stage_preload() {
	local cid tar
	# --init: a reaper as PID 1, so that a stopped containerd does not linger as a zombie
	cid=$(docker run -d --init --privileged --security-opt seccomp=unconfined --entrypoint sleep "$image_ref-stage" infinity)
	build_container=$cid
	docker exec "$cid" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
	local i
	for ((i = 0; i < 30; i++)); do
		docker exec "$cid" ctr version >/dev/null 2>&1 && break
		sleep 1
	done
	docker exec "$cid" ctr version >/dev/null || die "containerd did not start in the build container"
	for tar in "$ctx"/images/*.tar; do
		docker exec -i "$cid" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
			--all-platforms --no-unpack --digests - <"$tar" >/dev/null
	done
	local have missing=()
	have=$(docker exec "$cid" ctr --namespace=k8s.io images list -q)
	while read -r img; do
		grep -qxF "$img" <<<"$have" || missing+=("$img")
	done <"$ctx/images/list"
	((${#missing[@]} == 0)) || die "images missing after import: ${missing[*]}"
	log "  preloaded $(wc -l <"$ctx/images/list") images into the node's containerd"
	docker exec "$cid" sh -c 'pkill -x containerd; for i in $(seq 60); do pgrep -x containerd >/dev/null || exit 0; sleep 1; done; exit 1' ||
		die "containerd did not stop in the build container"
	docker exec "$cid" rm -f /tmp/containerd.log
	docker commit \
		--change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
		--change 'CMD []' \
		--change "LABEL io.restaurants.kind-node.inputs=${image_ref##*-}" \
		"$cid" "$image_ref" >/dev/null
	docker rm -f "$cid" >/dev/null
	build_container=""
	docker rmi "$image_ref-stage" >/dev/null
}

stage binaries stage_binaries
stage rootfs stage_rootfs
stage images stage_images
stage node stage_node
stage preload stage_preload
rm -rf "$ctx"
# drop node images of older inputs (docker refuses while a cluster uses one)
if [ -z "${KIND_NODE_IMAGE:-}" ]; then
	for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "${image_ref%:*}"); do
		case "$old" in
		"$image_ref") ;;
		"${image_ref%-*}"-*) docker rmi "$old" >/dev/null 2>&1 || true ;;
		esac
	done
fi
log "node image $image_ref built in $(($(date +%s) - total_start))s ($(docker image inspect -f '{{.Size}}' "$image_ref" | awk '{printf "%.0f MB", $1/1e6}'))"
echo "$image_ref"
