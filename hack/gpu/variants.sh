#!/usr/bin/env bash
# Runs `mixserve bench` once per line of a variants file, on the GPU machine, after hack/gpu-bench.sh
# device has unpacked the bundle, and prints one row per variant: tok/s per batch size, prefill ms.
# Used to compare code paths selected by environment switches in the same binary, on one warm card.
#
#   bash hack/gpu/variants.sh FILE [LAYERS]
#
# FILE lines: `name | ENV=V ENV2=V | bench arguments` (# starts a comment). Every bench gets
# --config mixtral-8x7b --random-weights --layers LAYERS --json; JSON and logs go to $OUT/variants/.
set -uo pipefail
file=${1:?usage: variants.sh FILE [LAYERS]}
layers=${2:-32}
OUT=${OUT:-/tmp/gpu-bench-out}
BUNDLE=/tmp/mixserve-bundle
SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
export LD_LIBRARY_PATH="$BUNDLE/lib:$SITE/nvidia/cu13/lib:$SITE/nvidia/nccl/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NCCL_NVLS_ENABLE=0
mkdir -p "$OUT/variants"
while IFS='|' read -r name envs args; do
  name=$(echo "$name" | xargs)
  [ -z "$name" ] || [[ $name == \#* ]] && continue
  slug=$(echo "$name" | tr -c 'A-Za-z0-9_-' _)
  # shellcheck disable=SC2086
  timeout 240 env $envs "$BUNDLE/bin/mixserve" bench --config mixtral-8x7b --random-weights --layers "$layers" \
    $args --json > "$OUT/variants/$slug.out" 2> "$OUT/variants/$slug.err"
  rc=$?
  tail -1 "$OUT/variants/$slug.out" > "$OUT/variants/$slug.json"
  python3 - "$name" "$rc" "$OUT/variants/$slug.json" "$OUT/variants/$slug.err" <<'PY'
import json, sys
name, rc, path, err = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
try:
    j = json.load(open(path))
except Exception:
    last = [l.strip() for l in open(err, errors="replace") if l.strip()][-1:] or ["no output"]
    print(f"{name:<34} FAILED (exit {rc}): {last[0][:150]}")
    sys.exit(0)
dec = " ".join(f"bs{d['batch_size']}={d['tok_per_s']:.1f}({d['roofline_pct']:.1f}%,{'g' if d['graph'] else 'e'})"
               for d in j.get("decode", []))
pre = " ".join(f"pf{p['prompt_len']}={p['ms']:.2f}ms" for p in j.get("prefill", []))
print(f"{name:<34} {dec} {pre}")
PY
done < "$file"
