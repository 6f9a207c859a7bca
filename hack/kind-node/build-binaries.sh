#!/usr/bin/env bash
# build-binaries.sh: build the node image's programs from their Go modules.
#
#   hack/kind-node/build-binaries.sh [component...]
#
# components: kubernetes etcd coredns metrics-server crictl pause flannel
#             kube-network-policies (default: all)
#
# Each component is built in a throwaway Go module under
# $RESTAURANTS_CACHE/kind-node/build/<component>-<version>/ (default cache:
# ${XDG_CACHE_HOME:-$HOME/.cache}/restaurants), never inside the repository,
# with CGO_ENABLED=0, into .../bin/. A finished build leaves a .done stamp and
# is skipped next time. Kubernetes is built from k8s.io/kubernetes with every
# staging module replaced by its published v0.MINOR.PATCH version, and its
# version stamped through -ldflags (otherwise it reports v0.0.0-master and
# kubeadm picks wrong image tags). Long: ~15-25 minutes cold on 2 cores.
set -euo pipefail
# shellcheck source=hack/kind-node/lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need go jq

export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
build_root=$node_cache/build
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# component_dir NAME VERSION: the build directory of one component.
component_dir() { echo "$build_root/$1-$2"; }

# new_module DIR MODULE VERSION [replace lines...]: write a throwaway go.mod.
new_module() {
	local dir=$1 mod=$2 ver=$3
	shift 3
	mkdir -p "$dir/bin"
	{
		echo "module restaurants.invalid/build"
		echo
		echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
		echo
		echo "require $mod $ver"
		local r
		for r in "$@"; do
			echo "replace $r"
		done
	} >"$dir/go.mod"
	# A package in the module keeps `go build` of the commands in module mode.
	printf 'package build\n' >"$dir/build.go"
}

# go_build DIR LDFLAGS PKG...: one `go build` for all packages (shared compile cache).
go_build() {
	local dir=$1 ldflags=$2
	shift 2
	(
		cd "$dir"
		go mod download
		nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o bin/ "$@"
	)
}

build_kubernetes() {
	local ver=$KUBERNETES_VERSION dir
	dir=$(component_dir kubernetes "$ver")
	[ -f "$dir/.done" ] && { log "kubernetes $ver: cached in $dir/bin"; return 0; }
	local moddir staging=() m
	mkdir -p "$build_root"
	# outside any module, so that no go.mod or go.sum is touched
	moddir=$(cd "$build_root" && go mod download -json "k8s.io/kubernetes@$ver" | jq -r .Dir)
	[ -d "$moddir" ] || die "could not download k8s.io/kubernetes@$ver"
	# every staging module listed in k8s.io/kubernetes' go.mod => its published v0.x.y
	local stagever="v0.${ver#v1.}"
	while read -r m; do
		staging+=("$m => $m $stagever")
	done < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$moddir/go.mod")
	log "kubernetes $ver: ${#staging[@]} staging modules replaced with $stagever"
	new_module "$dir" k8s.io/kubernetes "$ver" "${staging[@]}"
	local major minor pkg ld=""
	major=${ver#v}
	major=${major%%.*}
	minor=${ver#v*.}
	minor=${minor%%.*}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitCommit=$(kubernetes_commit "$ver") -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
	done
	go_build "$dir" "$ld" \
		k8s.io/kubernetes/cmd/kubeadm \
		k8s.io/kubernetes/cmd/kubelet \
		k8s.io/kubernetes/cmd/kubectl \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kube-proxy
	"$dir/bin/kubeadm" version -o short | grep -qx "$ver" || die "kubeadm does not report $ver"
	touch "$dir/.done"
}

# kubernetes_commit VERSION: the release's commit when the module proxy tells
# it (Origin.Hash), else the module version itself.
kubernetes_commit() {
	local h
	h=$( (cd "$build_root" && go list -m -json "k8s.io/kubernetes@$1" 2>/dev/null | jq -r '.Origin.Hash // empty') || true)
	echo "${h:-$1}"
}

# build_simple NAME MODULE VERSION LDFLAGS PKG...
build_simple() {
	local name=$1 mod=$2 ver=$3 ld=$4 dir
	shift 4
	dir=$(component_dir "$name" "$ver")
	[ -f "$dir/.done" ] && { log "$name $ver: cached in $dir/bin"; return 0; }
	new_module "$dir" "$mod" "$ver"
	go_build "$dir" "$ld" "$@"
	touch "$dir/.done"
}

build_etcd() {
	build_simple etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "" go.etcd.io/etcd/server/v3
	local dir
	dir=$(component_dir etcd "$ETCD_VERSION")
	# the server module's main package builds as "server"; the image wants "etcd"
	if [ -f "$dir/bin/server" ]; then mv -f "$dir/bin/server" "$dir/bin/etcd"; fi
	[ -x "$dir/bin/etcd" ] || die "etcd binary missing in $dir/bin"
}

build_coredns() {
	build_simple coredns github.com/coredns/coredns "$COREDNS_VERSION" \
		"-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" github.com/coredns/coredns
}

build_metrics_server() {
	# metrics-server reports the client-go version variables (its Makefile sets these)
	local p=k8s.io/client-go/pkg/version
	build_simple metrics-server sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION" \
		"-X $p.gitVersion=$METRICS_SERVER_VERSION -X $p.gitCommit=$METRICS_SERVER_VERSION -X $p.buildDate=$build_date" \
		sigs.k8s.io/metrics-server/cmd/metrics-server
}

build_crictl() {
	build_simple crictl sigs.k8s.io/cri-tools "$CRICTL_VERSION" \
		"-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
}

# build_patched NAME MODULE VERSION LDFLAGS PKG...: like build_simple, from a
# copy of the module's source with patches/NAME.patch applied (each patch
# says why). The build directory's name carries the patch's hash, so a
# changed patch is rebuilt.
build_patched() {
	local name=$1 mod=$2 ver=$3 ld=$4 dir src
	shift 4
	local patch=$kind_node_dir/patches/$name.patch
	dir=$(component_dir "$name" "$ver-$(sha256sum "$patch" | cut -c1-8)")
	[ -f "$dir/.done" ] && { log "$name $ver: cached in $dir/bin"; return 0; }
	if ! command -v patch >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing Debian's patch (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends patch >/dev/null ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends patch >/dev/null; } ||
			die "apt-get install patch failed"
	fi
	need patch
	mkdir -p "$build_root"
	src=$(cd "$build_root" && go mod download -json "$mod@$ver" | jq -r .Dir)
	[ -d "$src" ] || die "could not download $mod@$ver"
	rm -rf "$dir"
	new_module "$dir" "$mod" "$ver" "$mod => ./src"
	cp -r "$src" "$dir/src"
	chmod -R u+w "$dir/src"
	patch -d "$dir/src" -p1 --quiet --no-backup-if-mismatch <"$patch" || die "patches/$name.patch does not apply to $mod@$ver"
	go_build "$dir" "$ld" "$@"
	touch "$dir/.done"
}

# patched_dir NAME VERSION: the build directory build_patched uses.
patched_dir() { component_dir "$1" "$2-$(sha256sum "$kind_node_dir/patches/$1.patch" | cut -c1-8)"; }

build_flannel() {
	build_patched flannel github.com/flannel-io/flannel "$FLANNEL_VERSION" \
		"-X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" github.com/flannel-io/flannel
	local dir
	dir=$(patched_dir flannel "$FLANNEL_VERSION")
	# flanneld is the module's root package, which builds as "flannel"
	if [ -f "$dir/bin/flannel" ]; then mv -f "$dir/bin/flannel" "$dir/bin/flanneld"; fi
	[ -x "$dir/bin/flanneld" ] || die "flanneld binary missing in $dir/bin"
}

# The NetworkPolicy enforcer kindnet embeds.
build_kube_network_policies() {
	build_patched kube-network-policies sigs.k8s.io/kube-network-policies "$KUBE_NETWORK_POLICIES_VERSION" "" \
		sigs.k8s.io/kube-network-policies/cmd
	local dir
	dir=$(patched_dir kube-network-policies "$KUBE_NETWORK_POLICIES_VERSION")
	if [ -f "$dir/bin/cmd" ]; then mv -f "$dir/bin/cmd" "$dir/bin/kube-network-policies"; fi
	[ -x "$dir/bin/kube-network-policies" ] || die "kube-network-policies binary missing in $dir/bin"
}

build_pause() {
	local dir
	dir=$(component_dir pause "$PAUSE_VERSION")
	mkdir -p "$dir/bin"
	# small and local: always rebuilt from hack/kind-node/pause
	(cd "$kind_node_dir/pause" && go build -trimpath -ldflags "-s -w" -o "$dir/bin/pause" .)
	touch "$dir/.done"
}

all=(kubernetes etcd coredns metrics-server crictl pause flannel kube-network-policies)
(($#)) || set -- "${all[@]}"
for c in "$@"; do
	case "$c" in
	kubernetes) stage "build kubernetes $KUBERNETES_VERSION" build_kubernetes ;;
	etcd) stage "build etcd $ETCD_VERSION" build_etcd ;;
	coredns) stage "build coredns $COREDNS_VERSION" build_coredns ;;
	metrics-server) stage "build metrics-server $METRICS_SERVER_VERSION" build_metrics_server ;;
	crictl) stage "build crictl $CRICTL_VERSION" build_crictl ;;
	pause) stage "build pause" build_pause ;;
	flannel) stage "build flannel $FLANNEL_VERSION" build_flannel ;;
	kube-network-policies) stage "build kube-network-policies $KUBE_NETWORK_POLICIES_VERSION" build_kube_network_policies ;;
	*) die "unknown component $c (one of: ${all[*]})" ;;
	esac
done
