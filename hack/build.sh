#!/usr/bin/env bash
# Configures (once) and builds mixserve into build/ with Ninja and ccache.
#   hack/build.sh [extra cmake -D flags]
set -euo pipefail
LOG_TAG=build
source "$(dirname "$0")/lib/common.sh"
cd "$MIXSERVE_ROOT"
export CCACHE_DIR=${CCACHE_DIR:-$MIXSERVE_CACHE/ccache}
# Relative paths in the cache keys, so a fresh clone in another folder (CI) reuses the objects.
export CCACHE_BASEDIR=$MIXSERVE_ROOT CCACHE_NOHASHDIR=1
mkdir -p build
if [ ! -f build/CMakeCache.txt ] || [ $# -gt 0 ]; then
  cmake -S . -B build -G Ninja "$@" > build/configure.log 2>&1 \
    || { cat build/configure.log >&2; die "cmake configure failed (log: build/configure.log)"; }
  grep -E "^-- CUDA backend" build/configure.log >&2 || true
fi
t0=$SECONDS
cmake --build build -j "$(nproc)" || die "build failed"
log "built in $((SECONDS - t0))s: build/mixserve build/mixserve-operator"
