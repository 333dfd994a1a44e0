#!/usr/bin/env bash
# Builds and runs one libFuzzer target under ASan + UBSan.
#
#   hack/fuzz.sh <name> <seconds> [extra libFuzzer args]
#
# <name> is tests/fuzz/<name>_fuzz.cc. The build lives in build-fuzz/ (clang, -DMIXSERVE_FUZZ=ON,
# no CUDA); CC/CXX pick the compiler (default clang-14/clang++-14, else clang/clang++). The corpus
# grows in build-fuzz/corpus/<name>/, seeded from tests/fuzz/seeds/<name>/ when that exists; crash
# inputs land in build-fuzz/artifacts/<name>/ and the full log in build-fuzz/logs/<name>.log.
# Ends with one line, "fuzz <name>: <execs> execs in <s> s, <n> crashes"; exits 1 on any crash.
set -euo pipefail
LOG_TAG=fuzz
source "$(dirname "$0")/lib/common.sh"
cd "$MIXSERVE_ROOT"

[ $# -ge 2 ] || die "usage: hack/fuzz.sh <name> <seconds> [extra libFuzzer args]"
name=$1 seconds=$2
shift 2
[[ $name =~ ^[A-Za-z0-9_]+$ ]] || die "fuzz target name '$name' must be letters, digits and _"
[ -f "tests/fuzz/${name}_fuzz.cc" ] || die "no tests/fuzz/${name}_fuzz.cc"
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || die "seconds must be a positive integer, got '$seconds'"

pick() { for c in "$@"; do command -v "$c" > /dev/null && { echo "$c"; return 0; }; done; return 1; }
CC=${CC:-$(pick clang-14 clang || true)}
CXX=${CXX:-$(pick clang++-14 clang++ || true)}
[ -n "$CC" ] && [ -n "$CXX" ] || die "clang not found (apt-get install clang-14 libclang-rt-14-dev, or set CC/CXX)"
export CC CXX

build=$MIXSERVE_ROOT/build-fuzz
# Configured once; later builds re-run CMake by themselves when a fuzz target or its includes change.
if [ ! -f "$build/build.ninja" ] || ! grep -q '^MIXSERVE_FUZZ:[A-Z]*=ON$' "$build/CMakeCache.txt"; then
  run_step configure cmake -S . -B "$build" -G Ninja -DMIXSERVE_FUZZ=ON -DMIXSERVE_CUDA=OFF -DMIXSERVE_WERROR=OFF >&2
fi
# Build chatter goes to stderr: stdout is the summary line alone.
run_step "build ${name}_fuzz" cmake --build "$build" -j "${FUZZ_BUILD_JOBS:-2}" --target "${name}_fuzz" >&2

corpus=$build/corpus/$name artifacts=$build/artifacts/$name log=$build/logs/$name.log
mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
seeds=()
[ -d "tests/fuzz/seeds/$name" ] && seeds=("tests/fuzz/seeds/$name")
before=$(find "$artifacts" -type f | wc -l)

log "running ${name}_fuzz for ${seconds}s (log: $log)"
t0=$SECONDS
set +e
# New inputs go to the first corpus directory; the committed seeds are only read.
"$build/fuzz/${name}_fuzz" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/" \
  "$@" "$corpus" "${seeds[@]+"${seeds[@]}"}" > "$log" 2>&1
rc=$?
set -e
elapsed=$((SECONDS - t0))

execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
# On a crash libFuzzer may stop before its final stats; the last status line still counts.
[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
note=""
if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
  # Not a finding but a failed run (a bad flag, a missing corpus directory): show why.
  tail -n 20 "$log" >&2
  note=" (the fuzzer exited with status $rc)"
fi
[ "$crashes" -eq 0 ] || { grep -m 3 -E "ERROR: |runtime error:|Test unit written to" "$log" >&2 || true; }
echo "fuzz $name: ${execs:-0} execs in $elapsed s, $crashes crashes$note"
[ "$crashes" -eq 0 ] && [ "$rc" -eq 0 ]
