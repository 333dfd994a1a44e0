#!/usr/bin/env bash
# Builds the local control plane's binaries from their Go modules into $MIXSERVE_CACHE/bin.
# Each binary is built to a temporary name and renamed only when complete, so an interrupted
# run leaves the cache consistent and the next run resumes with what is missing.
set -euo pipefail
LOG_TAG=setup
source "$(dirname "$0")/common.sh"
mkdir -p "$MIXSERVE_BIN"

have() { [ -x "$MIXSERVE_BIN/$1" ] && [ "$(cat "$MIXSERVE_BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
mark() { echo "$2" > "$MIXSERVE_BIN/.$1.version"; }

build_kube() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
  done
  cd "$MIXSERVE_ROOT/hack/tools/kube"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    have "$cmd" "$KUBE_VERSION" && continue
    log "building $cmd $KUBE_VERSION from k8s.io/kubernetes"
    go build -trimpath -ldflags "-s -w $ldflags" -o "$MIXSERVE_BIN/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" \
      || { log "package k8s.io/kubernetes/cmd/$cmd@$KUBE_VERSION did not build"; return 1; }
    mv "$MIXSERVE_BIN/.$cmd.tmp" "$MIXSERVE_BIN/$cmd"; mark "$cmd" "$KUBE_VERSION"
  done
}

build_etcd() {
  have etcd "$ETCD_VERSION" && return 0
  log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3"
  cd "$MIXSERVE_ROOT/hack/tools/etcd"
  go build -trimpath -ldflags "-s -w" -o "$MIXSERVE_BIN/.etcd.tmp" . \
    || { log "package go.etcd.io/etcd/server/v3@$ETCD_VERSION did not build"; return 1; }
  mv "$MIXSERVE_BIN/.etcd.tmp" "$MIXSERVE_BIN/etcd"; mark etcd "$ETCD_VERSION"
}

# go install into a scratch GOBIN, then rename into place.
install_tool() {
  local name=$1 pkg=$2 version=$3
  have "$name" "$version" && return 0
  log "building $name $version from $pkg"
  local tmp; tmp=$(mktemp -d "$MIXSERVE_BIN/.gobin.XXXX")
  GOBIN=$tmp go install -trimpath -ldflags "-s -w ${4:-}" "$pkg@$version" \
    || { rm -rf "$tmp"; log "package $pkg@$version did not build"; return 1; }
  mv "$tmp/$name" "$MIXSERVE_BIN/$name"; rm -rf "$tmp"; mark "$name" "$version"
}

# kwok needs Stage objects to move fake nodes and pods along; its module ships them.
copy_kwok_stages() {
  local dst=$MIXSERVE_CACHE/kwok-stages/$KWOK_VERSION
  [ -f "$dst/stages.yaml" ] && return 0
  local src=$GOMODCACHE/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  [ -d "$src" ] || { log "kwok stage files not found in $src"; return 1; }
  mkdir -p "$dst"
  local out; out=$(mktemp "$dst/.stages.XXXX")
  for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat/*.yaml "$src"/pod/fast/*.yaml; do
    case "$f" in */kustomization.yaml) continue ;; esac
    cat "$f" >> "$out"; printf '\n---\n' >> "$out"
  done
  mv "$out" "$dst/stages.yaml"
}

what=${1:-all}
case $what in
  kube) build_kube ;;
  etcd) build_etcd ;;
  kwok) install_tool kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" && copy_kwok_stages ;;
  helm) install_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
  all) build_kube; build_etcd
       install_tool kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"; copy_kwok_stages
       install_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
  *) die "unknown tool group '$what' (kube|etcd|kwok|helm|all)" ;;
esac
