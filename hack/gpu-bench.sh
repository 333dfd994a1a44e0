#!/usr/bin/env bash
# The one script every measurement on the GPU machine goes through. Two halves:
#
#   hack/gpu-bench.sh [bundle]   HERE (no GPU): builds mixserve + the gpu test binaries with CUDA into
#                                build-gpu, packs .device/bundle/ (hack/gpu/bundle.sh) and prints the
#                                exact `run` tool call that drives the GPU machine.
#   hack/gpu-bench.sh save DIR   HERE, after the call: copies DIR/<kind>-<date>.json (the reply's files_at)
#                                into runtime/bench/results/, adding -2, -3... when that name is taken.
#   hack/gpu-bench.sh device     ON the GPU machine (what that call runs), in order:
#     0. ceilings: copy bandwidth and bf16 GEMM through torch (hack/gpu/ceilings.py)
#     1. correctness: every gpu test binary (tiny models vs CPU goldens), then again under
#        compute-sanitizer memcheck where it is installed
#     2. full-width Mixtral-8x7B shape with 2 layers, random weights: transformers bf16/fp32 logits
#        (hack/gpu/reference_logits.py) vs mixserve's (cuda_logits_dump_test) for 8 prompts, cosine >= 0.999
#     3. `mixserve bench` table (H200: all 32 layers; H100: --layers 16), then a second line for the
#        tensor-core prefill path where the bench has --dense-prefill-min
#     3c. (stage serve) end to end through HTTP: `mixserve serve --random-weights --config mixtral-8x7b
#        --layers L --device cuda` and hack/bench-serve.py at concurrency 1 and 64 (short prompts, fixed
#        long outputs with ignore_eos); output tok/s beside the bench stage's bs 1 / bs 64 decode tok/s
#     3d. (stage load) a full-width 2-layer Mixtral safetensors checkpoint (hack/gpu/write_checkpoint.py,
#        bf16, ~6.3 GB) loaded by `mixserve bench --model DIR --load-only`: GB/s with the page cache
#        dropped where the machine lets us (else noted), then warm with 4 and 8 reader threads
#     4. peers at batch 1 on the same shape: transformers eager (hack/gpu/hf_eager.py) and gpt-fast
#        (shared peers/gptfast_mixtral.py through hack/gpu/gptfast_peer.py)
#     5. the closing table and <kind>-<date>.json (hack/gpu/report.py), everything under $OUT
#
# Device-mode settings (environment): GPU_BENCH_STAGES (default tests,logits,bench,peers; also serve, load),
# GPU_BENCH_LAYERS (default 32 on H200, 16 otherwise), GPU_BENCH_BUDGET_S (default 560: later stages
# are cut short to end inside it), GPU_BENCH_BENCH_ARGS (replaces the default `mixserve bench` sizes),
# GPU_BENCH_PREFILL_ARGS (the second bench line, tensor-core prefill: --dense-prefill-min 64 ...),
# GPU_BENCH_SERVE_OUTPUT (output tokens per request in the serve stage, default 256 at concurrency 1
# and 512 at 64), GPU_BENCH_SERVE_ENV (extra environment for the server, e.g. MIXSERVE_ENGINE_GREEDY=0),
# GPU_BENCH_SERVE_COMPARE=1 (a second server at concurrency 64 on the old host-sampler path),
# GPU_BUNDLE_DIR (the carried bundle, default .device/bundle; the same variable names it when bundling).
set -euo pipefail
LOG_TAG=gpu-bench
source "$(dirname "$0")/lib/common.sh"
cd "$MIXSERVE_ROOT"
mode=${1:-bundle}

print_run_call() {
  local b=${GPU_BUNDLE_DIR:-.device/bundle} env=""
  [ "$b" = .device/bundle ] || env="GPU_BUNDLE_DIR=$b "
  sed -e "s|\.device/bundle|$b|g" -e "s|command=\"|command=\"$env|g" <<'EOF'

== Drive the GPU machine with the `run` tool (the lead's tool; not a shell command) ==
  H100 (Mixtral-8x7B shape cut to 16 layers):
    run(kind="nvidia-h100-x1", timeout_s=600, carry=[".device/bundle"],
        command="bash hack/gpu-bench.sh device")
  H200 (full 32 layers):
    run(kind="nvidia-h200", timeout_s=600, carry=[".device/bundle"],
        command="bash hack/gpu-bench.sh device")
  Fewer stages:  command="GPU_BENCH_STAGES=tests,logits bash hack/gpu-bench.sh device"
  Serving and loading too: command="GPU_BENCH_STAGES=tests,logits,bench,serve,load bash hack/gpu-bench.sh device"
Results come back under the reply's files_at: gpu-bench.log, tests.log, compare.json, bench.json,
bench_prefill.json, hf_eager.json, gptfast.log and <kind>-<date>.json; then: hack/gpu-bench.sh save <files_at>
EOF
}

if [ "$mode" = save ]; then
  dir=${2:?usage: hack/gpu-bench.sh save FILES_AT_DIR}
  mkdir -p runtime/bench/results
  found=0
  for f in "$dir"/*-20[0-9][0-9]-[0-9][0-9]-[0-9][0-9].json; do
    [ -f "$f" ] || continue
    base=$(basename "$f" .json) dest=runtime/bench/results/$(basename "$f") n=2
    while [ -e "$dest" ]; do dest=runtime/bench/results/$base-$n.json; n=$((n + 1)); done
    cp "$f" "$dest" && chmod 644 "$dest" && log "saved $dest" && found=1
  done
  [ "$found" = 1 ] || die "no <kind>-<date>.json in $dir"
  exit 0
fi
if [ "$mode" = bundle ]; then
  hack/gpu/bundle.sh
  print_run_call
  exit 0
fi
[ "$mode" = device ] || die "unknown mode '$mode' (bundle | device | save DIR)"

# ---------------------------------------------------------------- device mode (on the GPU machine)
# NVLink multicast stays off: a program that uses it can take the host's shared GPUs down.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-bench-out}
WORK=/tmp/gpu-bench-work
BUNDLE=/tmp/mixserve-bundle
rm -rf "$WORK" && mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/gpu-bench.log") 2>&1
T0=$SECONDS
BUDGET=${GPU_BENCH_BUDGET_S:-560}
STAGES=${GPU_BENCH_STAGES:-tests,logits,bench,peers}
want() { [[ ",$STAGES," == *",$1,"* ]]; }
left() { echo $((BUDGET - (SECONDS - T0))); }
# stage_timeout WANT: seconds a stage may run: WANT, or what is left of the budget less 25 s for the report.
stage_timeout() { local l=$(( $(left) - 25 )); [ "$l" -lt "$1" ] && echo $((l > 5 ? l : 5)) || echo "$1"; }
banner() { echo; echo "=== [$((SECONDS - T0))s] $*"; }

CARRIED=${GPU_BUNDLE_DIR:-.device/bundle}
[ -f "$CARRIED/payload.tar.xz" ] || die "no $CARRIED/payload.tar.xz: run 'hack/gpu-bench.sh bundle' here and carry $CARRIED"
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE"
tar -C "$BUNDLE" -xJf "$CARRIED/payload.tar.xz" 2>/dev/null \
  || python3 -m tarfile -e "$CARRIED/payload.tar.xz" "$BUNDLE" || die "could not unpack the bundle"
head -1 "$CARRIED/MANIFEST"
for d in "$BUNDLE"/data/tiny-*; do  # the tiny models' git-ignored tokenizer files, back in place
  [ -d "tests/data/$(basename "$d")" ] && cp -n "$d"/* "tests/data/$(basename "$d")/" 2>/dev/null || true
done

SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
NATIVE_LD="$BUNDLE/lib:$SITE/nvidia/cu13/lib:$SITE/nvidia/nccl/lib:/usr/local/cuda/lib64"
# Native binaries get the bundle's libraries; python keeps its own (no LD_LIBRARY_PATH leak into torch).
NATIVE=(env "LD_LIBRARY_PATH=$NATIVE_LD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "MIXSERVE_ROOT=$MIXSERVE_ROOT")
MIXSERVE=$BUNDLE/bin/mixserve

nvidia-smi -L
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | sed -n 1p)
NGPU=$(nvidia-smi -L | grep -c '^GPU')
case $GPU_NAME in *H200*) KIND=h200 ;; *H100*) KIND=h100 ;; *) KIND=$(echo "$GPU_NAME" | tr -cd 'A-Za-z0-9' | tr A-Z a-z) ;; esac
[ "$NGPU" -gt 1 ] && KIND="$KIND-x$NGPU"
DEFAULT_LAYERS=16; [[ $KIND == h200* ]] && DEFAULT_LAYERS=32
LAYERS=${GPU_BENCH_LAYERS:-$DEFAULT_LAYERS}
echo "kind $KIND, layers $LAYERS, stages $STAGES, budget ${BUDGET}s; python3 $(python3 -c 'import sys,torch,transformers; print(sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)')"
"${NATIVE[@]}" ldd "$MIXSERVE" | grep -E "not found|cudart|cublas|nccl" || true
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)

banner "0. ceilings (torch)"
timeout "$(stage_timeout 60)" python3 hack/gpu/ceilings.py > "$WORK/ceilings.json" && cat "$WORK/ceilings.json" \
  || echo "ceilings: failed"

if want tests; then
  banner "1. gpu tests (tiny models vs CPU goldens)"
  passed=0 failed=0 san="not run"
  : > "$OUT/tests.log"
  for t in "$BUNDLE"/bin/*_test; do
    [ -x "$t" ] || continue
    timeout "$(stage_timeout 120)" "${NATIVE[@]}" "$t" > "$WORK/one-test.log" 2>&1 && rc=0 || rc=$?
    cat "$WORK/one-test.log" >> "$OUT/tests.log"
    counts="$(grep -oE '^\[  PASSED  \] [0-9]+' "$WORK/one-test.log" | grep -oE '[0-9]+$' || echo 0) passed, $(grep -oE '^\[  SKIPPED \] [0-9]+ tests?, listed' "$WORK/one-test.log" | grep -oE '[0-9]+' || echo 0) skipped, $(grep -oE '^\[  FAILED  \] [0-9]+ tests?, listed' "$WORK/one-test.log" | grep -oE '[0-9]+' || echo 0) failed"
    if [ "$rc" = 0 ]; then
      passed=$((passed + 1)); echo "PASS $(basename "$t"): $counts"
    else
      failed=$((failed + 1)); echo "FAIL $(basename "$t") (exit $rc): $counts"
      grep -E '^\[  FAILED  \] [A-Za-z]|Failure|error' "$WORK/one-test.log" | head -10 || true
    fi
  done
  if [ -n "$SANITIZER" ]; then
    # Judged by memcheck's own error count: a failing test (exit 1) is reported above, and a binary that
    # only skips never calls CUDA ("terminated before first instrumented API call").
    san=clean
    for t in "$BUNDLE"/bin/*_test; do
      echo "--- compute-sanitizer memcheck $(basename "$t")" >> "$OUT/tests.log"
      timeout "$(stage_timeout 150)" "${NATIVE[@]}" "$SANITIZER" --tool memcheck "$t" > "$WORK/one-san.log" 2>&1 && rc=0 || rc=$?
      cat "$WORK/one-san.log" >> "$OUT/tests.log"
      errs=$(grep -oE 'ERROR SUMMARY: [0-9]+' "$WORK/one-san.log" | grep -oE '[0-9]+$' || true)
      if grep -q "terminated before first instrumented API call" "$WORK/one-san.log"; then
        echo "compute-sanitizer $(basename "$t"): no CUDA calls (all skipped)"
      elif [ "$rc" = 124 ]; then
        san="timeout in $(basename "$t")"; echo "compute-sanitizer $(basename "$t"): timed out"
      elif [ -z "$errs" ] || [ "$errs" != 0 ]; then
        san="${errs:-unknown} errors in $(basename "$t")"; echo "compute-sanitizer $(basename "$t"): ${errs:-no summary} errors (see tests.log)"
        grep -E '^========= (Invalid|Program hit|Error)' "$WORK/one-san.log" | head -5 || true
      else
        echo "compute-sanitizer $(basename "$t"): 0 errors"
      fi
    done
    echo "compute-sanitizer memcheck: $san"
  else
    san="not installed"
  fi
  python3 -c 'import json,sys; print(json.dumps({"passed": int(sys.argv[1]), "failed": int(sys.argv[2]), "sanitizer": sys.argv[3]}))' \
    "$passed" "$failed" "$san" > "$WORK/tests.json"
fi

if want logits; then
  banner "2. full-width 2-layer Mixtral vs transformers"
  M=/tmp/mixtral-2l
  # The reference runs even when mixserve cannot answer yet: it checks itself and prints the bf16 noise floor.
  if timeout "$(stage_timeout 240)" python3 hack/gpu/reference_logits.py --out "$M" --layers 2; then
    # mixserve's logits for the same ids: the gpu test binary cuda_logits_dump_test (env-driven; it skips
    # without the env), or a `mixserve logits` subcommand if one appears.
    DUMP=(env "MIXSERVE_LOGITS_MODEL=$M" "MIXSERVE_LOGITS_TOKENS=$M/tokens.json"
          "MIXSERVE_LOGITS_OUT=$WORK/mixserve_logits.safetensors" "$BUNDLE/bin/cuda_logits_dump_test")
    if [ ! -x "$BUNDLE/bin/cuda_logits_dump_test" ]; then
      DUMP=("$MIXSERVE" logits --model "$M" --tokens "$M/tokens.json" --out "$WORK/mixserve_logits.safetensors" --device cuda)
      "${NATIVE[@]}" "$MIXSERVE" logits --help > /dev/null 2>&1 || DUMP=()
    fi
    if [ ${#DUMP[@]} -gt 0 ]; then
      rm -f "$WORK/mixserve_logits.safetensors"
      timeout "$(stage_timeout 180)" "${NATIVE[@]}" "${DUMP[@]}" \
        && [ -s "$WORK/mixserve_logits.safetensors" ] \
        && python3 hack/gpu/compare.py --ref "$M/reference.safetensors" --tokens "$M/tokens.json" \
             --got "$WORK/mixserve_logits.safetensors" --json "$OUT/compare.json" || echo "logits check: FAILED"
      cp "$OUT/compare.json" "$WORK/" 2>/dev/null || true
    else
      echo "skipped the comparison: no cuda_logits_dump_test and no 'mixserve logits' in this bundle"
    fi
  else
    echo "reference_logits.py: FAILED"
  fi
  rm -rf "$M"
fi

# run_bench NAME ARGS...: one `mixserve bench ... --json`; its JSON (the last stdout line) goes to $OUT/NAME.json.
run_bench() {
  local name=$1; shift
  timeout "$(stage_timeout 300)" "${NATIVE[@]}" "$MIXSERVE" bench --config mixtral-8x7b --random-weights \
      --layers "$LAYERS" "$@" --json > "$WORK/$name.out" \
    && python3 hack/gpu/last_json.py "$WORK/$name.out" "$OUT/$name.json" || echo "bench $name: FAILED (output in gpu-bench.log)"
  cp "$OUT/$name.json" "$WORK/" 2>/dev/null || true
}

if want bench; then
  banner "3. mixserve bench ($LAYERS layers)"
  BENCH_HELP=$("${NATIVE[@]}" "$MIXSERVE" bench --help 2>&1 || true)
  if [[ $BENCH_HELP == *usage* ]]; then
    # shellcheck disable=SC2086
    run_bench bench ${GPU_BENCH_BENCH_ARGS:---batch-sizes 1,8,32,64,128,256 --prompt-len 128 --decode-steps 64}
    # The tensor-core prefill path, where this mixserve has it (off by default until its goldens pass).
    if [[ $BENCH_HELP == *dense-prefill-min* ]]; then
      banner "3b. mixserve bench, tensor-core prefill"
      # shellcheck disable=SC2086
      run_bench bench_prefill ${GPU_BENCH_PREFILL_ARGS:---dense-prefill-min 64 --batch-sizes 1 --prefill-lens 1024,4096}
    fi
  else
    echo "skipped: this mixserve has no 'bench' subcommand yet"
  fi
fi

if want serve; then
  banner "3c. end to end: mixserve serve --random-weights ($LAYERS layers) + hack/bench-serve.py"
  echo "start-up errors (each should be one line and exit 1, never a hang or a bare CUDA error):"
  for args in "--config mixtral-8x22b" "--config mixtral-8x7b --layers $LAYERS --kv-cache-memory 400GiB" \
              "--config mixtral-8x7b --layers $LAYERS --kv-cache-memory 64MiB --max-model-len 32768"; do
    # shellcheck disable=SC2086
    timeout "$(stage_timeout 120)" "${NATIVE[@]}" "$MIXSERVE" serve --random-weights $args --tokenizer tests/data/tiny-mixtral \
      --device cuda --port 0 > "$WORK/serve_err.out" 2>&1 && rc=0 || rc=$?
    echo "  serve --random-weights $args -> exit $rc, $(wc -l < "$WORK/serve_err.out") line(s): $(tail -1 "$WORK/serve_err.out")"
  done
  # serve_run TAG "ENV..." CONCURRENCIES: one server, bench-serve.py at each concurrency into
  # $WORK/serve_[TAG_]c<N>.json (TAG "" for the default path).
  serve_run() {
    local tag=$1 envs=$2 concs=$3 log=$WORK/serve${1:+_$1}.log url="" pid c out
    # shellcheck disable=SC2086
    env $envs "${NATIVE[@]}" "$MIXSERVE" serve --random-weights --config mixtral-8x7b --layers "$LAYERS" \
      --tokenizer tests/data/tiny-mixtral --device cuda --host 127.0.0.1 --port 0 --max-model-len 2048 \
      --served-model-name mixtral-8x7b > "$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 "$(stage_timeout 240)"); do
      url=$(grep -oE 'serving [^ ]+ on http://[0-9.]+:[0-9]+' "$log" | grep -oE 'http://[0-9.:]+' | head -1 || true)
      [ -n "$url" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if [ -n "$url" ]; then
      echo "--- serve ${tag:-default}${envs:+ ($envs)}"
      grep -E '^mixserve: (cuda|cpu) backend' "$log" || true
      for c in $concs; do
        out=${GPU_BENCH_SERVE_OUTPUT:-$([ "$c" = 1 ] && echo 256 || echo 512)}
        timeout "$(stage_timeout 180)" python3 hack/bench-serve.py --base-url "$url/v1" --model mixtral-8x7b \
          --concurrency "$c" --num-requests "$([ "$c" = 1 ] && echo 4 || echo "$c")" \
          --warmup-requests "$([ "$c" = 1 ] && echo 1 || echo "$c")" --warmup-output-len 32 \
          --prompt-len 32 --output-len "$out" --ignore-eos \
          --json "$WORK/serve_${tag:+${tag}_}c$c.json" || echo "bench-serve ${tag:-default} concurrency $c: FAILED"
      done
      curl -s "$url/metrics" 2>/dev/null | grep -E '^vllm:(generation_tokens_total|num_preemptions_total)' || true
    else
      echo "serve ${tag:-default}: no 'serving ... on http://' line (log below)"
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -vE '^\{"completion_tokens"' "$log" | tail -6 || true  # the server's own lines, not its access log
  }
  serve_run "" "${GPU_BENCH_SERVE_ENV:-}" "1 64"
  # GPU_BENCH_SERVE_COMPARE=1: the same at concurrency 64 with the host sampler (logits copied out, no
  # GPU argmax) and SSE writes on the engine thread: the path before this change.
  if [ "${GPU_BENCH_SERVE_COMPARE:-0}" = 1 ]; then
    serve_run old "MIXSERVE_ENGINE_GREEDY=0 MIXSERVE_SSE_PUMP=0" "64"
  fi
fi

if want load; then
  banner "3d. load: full-width 2-layer Mixtral safetensors (bf16) -> GPU"
  # On disk, not tmpfs (whose pages never leave memory): /var/tmp unless that is tmpfs too.
  CK=/var/tmp/mixtral-load
  mkdir -p /var/tmp
  [ "$(df --output=fstype /var/tmp 2>/dev/null | tail -1)" = tmpfs ] && CK=$MIXSERVE_ROOT/.device/mixtral-load
  rm -rf "$CK" && mkdir -p "$CK"
  FSTYPE=$(df --output=fstype "$CK" 2>/dev/null | tail -1 || echo unknown)
  echo "checkpoint in $CK ($FSTYPE)"
  if timeout "$(stage_timeout 200)" python3 hack/gpu/write_checkpoint.py --out "$CK" --layers 2 > "$WORK/load_write.json"; then
    cat "$WORK/load_write.json"
    # drop_cache: the whole machine's page cache where allowed, else these files' pages (after a sync);
    # sets CACHE to what worked (warm: neither did).
    drop_cache() {
      sync
      CACHE=warm
      if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then CACHE=dropped; else
        python3 -c 'import os,sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$CK"/*.safetensors \
          && CACHE=fadvise-dontneed
      fi
    }
    drop_cache
    echo "page cache before each cold load: $CACHE"
    # name:threads:MIXSERVE_LOAD_WILLNEED. Cold runs drop the cache first; cold-nowillneed is the loader
    # without its readahead advice (the previous behaviour).
    for run in cold:4:1 cold-nowillneed:4:0 warm:4:1 warm:8:1 warm:1:1; do
      IFS=: read -r name threads willneed <<< "$run"
      if [[ $name == cold* ]]; then
        drop_cache
        [ "$CACHE" = warm ] && name=warm-${name#cold}
      fi
      timeout "$(stage_timeout 120)" "${NATIVE[@]}" MIXSERVE_LOAD_WILLNEED="$willneed" "$MIXSERVE" bench --model "$CK" \
          --load-only --load-threads "$threads" --json > "$WORK/load_run.out" 2> "$WORK/load_run.err" \
        && python3 hack/gpu/last_json.py "$WORK/load_run.out" "$WORK/load_$name-$threads.json" \
        && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('load %s threads=%d: %.2f GB in %.2f s, %.2f GB/s to the GPU' % (sys.argv[2], d['load_threads'], d['weights_gb'], d['load_s'], d['load_gbps']))" \
             "$WORK/load_$name-$threads.json" "$name" \
        || { echo "load $name threads=$threads: FAILED"; tail -3 "$WORK/load_run.err"; }
    done
    echo "$CACHE, $FSTYPE" > "$WORK/load_cache.txt"
  else
    echo "write_checkpoint.py: FAILED"
  fi
  rm -rf "$CK"
fi

if want peers; then
  banner "4a. peer: transformers eager, batch 1, $LAYERS layers"
  timeout "$(stage_timeout 150)" python3 hack/gpu/hf_eager.py --layers "$LAYERS" --steps 32 > "$WORK/hf_eager.out" 2>&1 || echo "hf_eager: FAILED"
  tail -5 "$WORK/hf_eager.out" || true
  grep '^{' "$WORK/hf_eager.out" | tail -1 > "$OUT/hf_eager.json" || true
  [ -s "$OUT/hf_eager.json" ] && cp "$OUT/hf_eager.json" "$WORK/" || rm -f "$OUT/hf_eager.json"

  banner "4b. peer: gpt-fast, batch 1, $LAYERS layers"
  if [ -f "$BUNDLE/peers/gptfast_mixtral.py" ] && [ -f "$BUNDLE/peer/gptfast/model.py" ]; then
    (cd /tmp && GPTFAST_DIR="$BUNDLE/peer/gptfast" GPTFAST_LAYERS=$([ "$LAYERS" -lt 32 ] && echo "$LAYERS" || echo 0) \
      timeout "$(stage_timeout 400)" python3 "$MIXSERVE_ROOT/hack/gpu/gptfast_peer.py" "$BUNDLE/peers/gptfast_mixtral.py" 8x7B) \
      > "$OUT/gptfast.log" 2>&1 || echo "gpt-fast: exited $? (timeout 124)"
    grep -E "tok/s|params|Error|error" "$OUT/gptfast.log" | tail -8 || true
    cp "$OUT/gptfast.log" "$WORK/"
  else
    echo "skipped: gpt-fast source or the shared peer script is not in the bundle"
  fi
fi

banner "5. report"
python3 hack/gpu/report.py --work "$WORK" --out "$OUT/$KIND-$(date -u +%F).json" --gpu "$GPU_NAME" --kind "$KIND" \
  --layers "$LAYERS" --commit "$(head -1 "$CARRIED/MANIFEST" | sed 's/.* from //')"
echo "done in $((SECONDS - T0))s"
sleep 1  # let tee finish writing gpu-bench.log
