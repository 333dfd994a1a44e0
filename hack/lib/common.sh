# Shared shell helpers for hack/*.sh: cache paths, pinned tool versions, step timing, one-line errors.
# Source it; it defines no behaviour on its own.

MIXSERVE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MIXSERVE_CACHE=${MIXSERVE_CACHE:-$HOME/.cache/mixserve}
export MIXSERVE_ROOT MIXSERVE_CACHE

# Pinned versions of everything built from Go modules (see hack/tools/*/go.mod for the rest).
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.19.0

# Go writes its module and build caches inside ours, so one directory holds every heavy artefact.
export GOMODCACHE=$MIXSERVE_CACHE/go/mod
export GOCACHE=$MIXSERVE_CACHE/go/build
export GOFLAGS=-buildvcs=false
export GOTOOLCHAIN=local

MIXSERVE_BIN=$MIXSERVE_CACHE/bin
CUDA_WHEELS_DIR=$MIXSERVE_CACHE/cuda-13.0
VENV=$MIXSERVE_ROOT/.venv

log() { printf '[%s] %s\n' "${LOG_TAG:-mixserve}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${LOG_TAG:-mixserve}" "$*" >&2; exit 1; }

# run_step NAME CMD...: runs CMD, prints how long it took; on failure names the step and exits 1.
run_step() {
  local name=$1; shift
  local t0=$SECONDS
  log "step '$name' ..."
  if ! "$@"; then
    die "step '$name' failed after $((SECONDS - t0))s (rerun hack/setup.sh to resume; finished steps are kept)"
  fi
  log "step '$name' done in $((SECONDS - t0))s"
}

# Puts the cached tools first on PATH (kubectl, helm, etcd, kube-*, kwok).
use_cached_tools() { export PATH="$MIXSERVE_BIN:$PATH"; }
