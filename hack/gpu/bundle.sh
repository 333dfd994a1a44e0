#!/usr/bin/env bash
# Builds the CUDA binaries and packs what the GPU machine needs beyond the working tree into
# .device/bundle/ (git-ignored), which the device `run` tool carries:
#   payload.tar.xz  bin/ (mixserve + gpu test binaries, debug info stripped), lib/ (shared libraries
#                   the device image may lack, per ldd), data/ (the tiny models' git-ignored tokenizer
#                   files), peer/gptfast/ (gpt-fast's public source), peers/ (the shared peer script)
#   MANIFEST        what is inside, the commit it was built from, sizes
# Tracked files (tiny models, goldens, hack/gpu/*.py) travel with the tree and are not duplicated.
#
#   hack/gpu/bundle.sh            (called by hack/gpu-bench.sh; env GPU_BUILD_DIR overrides build-gpu;
#                                  GPU_BUNDLE_SKIP_BUILD=1 packs what the build dir already holds;
#                                  GPU_BUNDLE_DIR=.device/NAME packs there instead of .device/bundle)
set -euo pipefail
LOG_TAG=gpu-bundle
source "$(dirname "$0")/../lib/common.sh"
cd "$MIXSERVE_ROOT"

BUILD=${GPU_BUILD_DIR:-$MIXSERVE_ROOT/build-gpu}
# GPU_BUNDLE_DIR (relative to the repo root, under an ignored folder) lets several people bundle at once.
BUNDLE=$MIXSERVE_ROOT/${GPU_BUNDLE_DIR:-.device/bundle}
STAGE=$BUNDLE.stage
LIMIT=$((64 * 1024 * 1024))
# The device image is Ubuntu 24.04: glibc 2.39, libstdc++ of GCC 14 (GLIBCXX_3.4.33).
DEVICE_GLIBC=2.39
DEVICE_GLIBCXX=3.4.33

export CCACHE_DIR=${CCACHE_DIR:-$MIXSERVE_CACHE/ccache} CCACHE_BASEDIR=$MIXSERVE_ROOT CCACHE_NOHASHDIR=1

# gpu test targets, by the naming rule of tests/CMakeLists.txt: tests/gpu/<module>/<x>_test.cc is
# <module>_<x>_test; a test file directly in tests/gpu/ is its own stem (cuda_smoke_test).
gpu_test_targets() {
  local f m
  for f in tests/gpu/*_test.cc; do [ -e "$f" ] && basename "$f" .cc; done
  for f in tests/gpu/*/*_test.cc; do
    [ -e "$f" ] || continue
    m=$(basename "$(dirname "$f")")
    echo "${m}_$(basename "$f" .cc)"
  done
}

# version_gt A B: true when version A sorts after B.
version_gt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]; }

configure_and_build() {
  if [ "${GPU_BUNDLE_SKIP_BUILD:-0}" = 1 ]; then
    mapfile -t TESTS < <(gpu_test_targets)
    log "GPU_BUNDLE_SKIP_BUILD=1: packing the binaries already in $BUILD, not rebuilding"
    return
  fi
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    mkdir -p "$BUILD"
    cmake -S . -B "$BUILD" -G Ninja -DMIXSERVE_CUDA=ON > "$BUILD/configure.log" 2>&1 \
      || { cat "$BUILD/configure.log" >&2; die "cmake configure failed ($BUILD/configure.log)"; }
  fi
  grep -q '^MIXSERVE_CUDA:STRING=ON' "$BUILD/CMakeCache.txt" \
    || cmake -S . -B "$BUILD" -DMIXSERVE_CUDA=ON > /dev/null || die "could not turn MIXSERVE_CUDA on in $BUILD"
  mapfile -t TESTS < <(gpu_test_targets)
  local t0=$SECONDS
  log "building mixserve ${TESTS[*]} in $BUILD (-j2)"
  cmake --build "$BUILD" -j2 --target mixserve "${TESTS[@]}" || die "build failed (targets: mixserve ${TESTS[*]})"
  log "built in $((SECONDS - t0))s"
}

# Copies the non-basic shared libraries that a binary needs into $STAGE/lib.
carry_libs() {
  local bin=$1 line name path
  while read -r line; do
    name=$(basename "$(awk '{print $1}' <<< "$line")")
    path=$(awk '$2 == "=>" {print $3}' <<< "$line")
    case $name in
      linux-vdso*|ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libgcc_s.so*) continue ;;
      libcuda.so*|libcudart.so*|libcublas*|libnccl.so*|libnvrtc*|libnvJitLink*) continue ;;  # from the device
      libstdc++.so*)
        local need
        need=$(objdump -T "$bin" | grep -o 'GLIBCXX_[0-9.]*' | sed 's/GLIBCXX_//' | sort -uV | tail -1)
        if version_gt "$need" "$DEVICE_GLIBCXX"; then cp -L "$path" "$STAGE/lib/"; fi
        continue ;;
    esac
    [ -n "$path" ] && [ -f "$path" ] || die "$bin needs $name, which ldd cannot find here"
    [ -f "$STAGE/lib/$name" ] || cp -L "$path" "$STAGE/lib/$name"
  done < <(ldd "$bin")
}

check_glibc() {
  local here need
  here=$(ldd --version | sed -n 1p | grep -o '[0-9]*\.[0-9]*$')
  need=$(for b in "$STAGE"/bin/* "$STAGE"/lib/*; do objdump -T "$b" 2>/dev/null; done \
    | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  log "glibc here $here; newest glibc symbol the bundle needs: $need; device (Ubuntu 24.04): $DEVICE_GLIBC"
  if version_gt "$need" "$DEVICE_GLIBC"; then
    log "!!!!!!!! WARNING: the bundle needs glibc $need, newer than the device's $DEVICE_GLIBC: its binaries"
    log "!!!!!!!! WILL NOT START there. Build on an older system (or on the device with its nvcc)."
  fi
  if version_gt "$here" "$DEVICE_GLIBC"; then
    log "!!!!!!!! WARNING: this machine's glibc $here is newer than the device's $DEVICE_GLIBC; check the line above."
  fi
}

stage() {
  rm -rf "$STAGE" && mkdir -p "$STAGE"/{bin,lib,data,peer,peers}
  local b t path
  for t in mixserve "${TESTS[@]}"; do
    path=$(find "$BUILD" -maxdepth 3 -name "$t" -type f -perm -u+x -print -quit)
    [ -n "$path" ] || die "built target $t not found under $BUILD"
    objcopy --strip-debug "$path" "$STAGE/bin/$t"
    carry_libs "$path"
  done
  for b in tests/data/tiny-*/; do
    b=${b%/}
    mkdir -p "$STAGE/data/$(basename "$b")"
    for t in tokenizer.json tokenizer_config.json; do
      [ -f "$b/$t" ] && cp "$b/$t" "$STAGE/data/$(basename "$b")/"
    done
  done
  local gptfast=""
  for d in peer/gptfast .device/peer/gptfast; do [ -f "$d/model.py" ] && { gptfast=$d; break; }; done
  if [ -n "$gptfast" ]; then
    mkdir -p "$STAGE/peer/gptfast" && cp "$gptfast"/*.py "$STAGE/peer/gptfast/"
    [ -f "$gptfast/SOURCE" ] && cp "$gptfast/SOURCE" "$STAGE/peer/gptfast/"
  else
    log "warning: no gpt-fast source in peer/gptfast or .device/peer/gptfast: the gpt-fast peer will be skipped"
  fi
  local shared=${MIXSERVE_SHARED:-$MIXSERVE_ROOT/../shared}
  if [ -f "$shared/peers/gptfast_mixtral.py" ]; then cp "$shared/peers/gptfast_mixtral.py" "$STAGE/peers/";
  else log "warning: $shared/peers/gptfast_mixtral.py missing: the gpt-fast peer will be skipped"; fi
}

pack() {
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE"
  tar -C "$STAGE" -cf - . | xz -T2 -6 > "$BUNDLE/payload.tar.xz"
  {
    echo "built: $(date -u +%FT%TZ) from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- runtime tests || echo '+local changes')"
    echo "build dir: $BUILD"
    (cd "$STAGE" && find . -type f -printf '%10s  %p\n' | sort -k2)
  } > "$BUNDLE/MANIFEST"
  local bundle_bytes tree_bytes total
  bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
  # (du skips, and complains about, tracked files deleted in the work tree)
  tree_bytes=$( { git ls-files -z; git ls-files -o --exclude-standard -z; } | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1 || true)
  total=$((bundle_bytes + tree_bytes))
  log "bundle: $BUNDLE $((bundle_bytes / 1024 / 1024)) MiB compressed ($(du -sb "$STAGE" | cut -f1 | awk '{printf "%d", $1/1048576}') MiB unpacked)"
  log "working tree that travels: $((tree_bytes / 1024 / 1024)) MiB; with the bundle: $((total / 1024 / 1024)) MiB of the 64 MiB limit"
  [ "$total" -le "$LIMIT" ] || die "tree + bundle is $((total / 1024 / 1024)) MiB, over the device tool's 64 MiB limit"
}

mkdir -p "$(dirname "$BUNDLE")"
git check-ignore -q "$BUNDLE/x" || die "$BUNDLE is not git-ignored: put GPU_BUNDLE_DIR under .device/"
exec 9> "$BUNDLE.lock"
flock -n 9 || die "another bundle.sh is packing $BUNDLE right now (use GPU_BUNDLE_DIR=.device/<yours>)"
configure_and_build
stage
check_glibc
pack
rm -rf "$STAGE"
