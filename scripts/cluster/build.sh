#!/usr/bin/env bash
# Builds the local cluster from source through the Go module proxy into $NEXUS_BIN: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, and the real node's kubelet and kube-proxy (k8s.io/kubernetes),
# etcd, kwok and CoreDNS (the cluster DNS, run on the host).
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules with local paths), so a
# wrapper module under $NEXUS_TOOLS/build/ requires it and replaces every staging module with its published v0.X.Y.
# A binary is rebuilt only when `go version -m` does not show the pinned module version inside it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../env.sh"
source "$here/versions.sh"
source "$here/../progress.sh"
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:--buildvcs=false}"

# has_module BIN MODULE VERSION: true when BIN exists and was built from MODULE at VERSION.
has_module() {
  local info
  info="$(go version -m "$NEXUS_BIN/$1" 2>/dev/null)" || return 1
  grep -Eq "^\s+(mod|dep)\s+$2\s+$3(\s|$)" <<<"$info"
}

build_kubernetes() {
  local v="$NEXUS_K8S_VERSION" staging="v0.${NEXUS_K8S_VERSION#v1.}"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy) missing=()
  for b in "${bins[@]}"; do has_module "$b" k8s.io/kubernetes "$v" || missing+=("$b"); done
  if [ ${#missing[@]} -eq 0 ]; then echo "kubernetes $v: already built" >&2; return; fi
  local dir="$NEXUS_TOOLS/build/k8s-$v"
  mkdir -p "$dir"
  local gomod
  gomod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  {
    echo "module nexus.local/k8s-build"
    echo
    grep -E '^(go|godebug) ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } >"$dir/go.mod.new"
  if ! cmp -s "$dir/go.mod.new" "$dir/go.mod"; then mv "$dir/go.mod.new" "$dir/go.mod"; rm -f "$dir/go.sum"; else rm "$dir/go.mod.new"; fi
  local minor="${v#v1.}"
  minor="${minor%%.*}"
  local ld="-s -w" date
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  local pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  echo "kubernetes $v: building ${missing[*]} (this takes a while on a cold cache)" >&2
  (cd "$dir" && go build -mod=mod -trimpath -ldflags "$ld" -o "$NEXUS_BIN/" "${pkgs[@]}")
}

build_etcd() {
  local v="$NEXUS_ETCD_VERSION"
  if has_module etcd go.etcd.io/etcd/server/v3 "$v"; then echo "etcd $v: already built" >&2; return; fi
  local dir="$NEXUS_TOOLS/build/etcd-$v"
  mkdir -p "$dir"
  printf 'module nexus.local/etcd-build\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$v" >"$dir/go.mod"
  echo "etcd $v: building" >&2
  (cd "$dir" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$NEXUS_BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  local v="$NEXUS_KWOK_VERSION"
  if has_module kwok sigs.k8s.io/kwok "$v"; then echo "kwok $v: already built" >&2; return; fi
  echo "kwok $v: building" >&2
  GOBIN="$NEXUS_BIN" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v" "sigs.k8s.io/kwok/cmd/kwok@$v"
}

build_coredns() {
  local v="$NEXUS_COREDNS_VERSION"
  if has_module coredns github.com/coredns/coredns "$v"; then echo "coredns $v: already built" >&2; return; fi
  local dir="$NEXUS_TOOLS/build/coredns-$v"
  mkdir -p "$dir"
  printf 'module nexus.local/coredns-build\n\ngo 1.26.0\n\nrequire github.com/coredns/coredns %s\n' "$v" >"$dir/go.mod"
  echo "coredns $v: building" >&2
  (cd "$dir" && go build -mod=mod -trimpath -ldflags "-s -w" -o "$NEXUS_BIN/coredns" github.com/coredns/coredns)
}

only="${1:-all}"
case "$only" in
  all)
    timed "build: etcd $NEXUS_ETCD_VERSION" build_etcd
    timed "build: kwok $NEXUS_KWOK_VERSION" build_kwok
    timed "build: coredns $NEXUS_COREDNS_VERSION" build_coredns
    timed "build: kubernetes $NEXUS_K8S_VERSION" build_kubernetes
    ;;
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  coredns) build_coredns ;;
  *) echo "usage: build.sh [all|kubernetes|etcd|kwok|coredns]" >&2; exit 2 ;;
esac
