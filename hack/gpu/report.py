#!/usr/bin/env python3
"""Merges one GPU-machine run of hack/gpu-bench.sh into the results JSON and prints the closing table.

Reads from --work (each file optional; a missing one is a stage that was skipped or failed):
  ceilings.json   hack/gpu/ceilings.py          tests.json  the gpu test binaries' results
  bench.json      mixserve bench --json         compare.json hack/gpu/compare.py
  bench_prefill.json  a second bench line (tensor-core prefill); its prefill rows join "prefill"
  hf_eager.json   hack/gpu/hf_eager.py          gptfast.log  hack/gpu/gptfast_peer.py's output
  serve_c1.json, serve_c64.json  hack/bench-serve.py against `mixserve serve --random-weights` (stage serve)
  load_<run>-<threads>.json, load_cache.txt  `mixserve bench --model DIR --load-only` (stage load)
Writes --out (runtime/bench/results/<kind>-<date>.json's content):
  {"gpu", "kind", "date", "commit", "layers", "ceilings", "decode": [...], "prefill": [...],
   "peers": {...}, "serve": {...}, "load": {...}, "correctness": {...}, "roofline_model": {...}}

    python3 hack/gpu/report.py --work DIR --out FILE --gpu NAME --kind h100 --layers 16
"""
import argparse
import datetime
import json
import pathlib
import re
import statistics

# Mixtral-8x7B shape: bytes one decode step must read, in bf16.
H, I, V, E, TOPK, NH, NKV, HD, FULL_LAYERS = 4096, 14336, 32000, 8, 2, 32, 8, 128, 32
ATTN_PARAMS = H * NH * HD * 2 + H * NKV * HD * 2          # q, o + k, v
EXPERT_PARAMS = 3 * H * I                                  # w1, w2, w3
KV_BYTES_PER_POS_LAYER = 2 * NKV * HD * 2                  # k and v, bf16


def step_bytes(layers, batch, context=0):
    """Weights touched (attention, the experts the batch routes to on average, router, lm_head) + KV."""
    experts = E * (1 - ((E - TOPK) / E) ** batch)          # expected distinct experts, uniform routing
    params = layers * (ATTN_PARAMS + experts * EXPERT_PARAMS + E * H) + V * H
    return params * 2 + batch * context * layers * KV_BYTES_PER_POS_LAYER


def load(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def gptfast_runs(path):
    try:
        text = pathlib.Path(path).read_text()
    except OSError:
        return None
    runs = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"bs=1 run(\d+): ([\d.]+) tok/s", text)]
    if not runs:
        return {"error": (text.strip().splitlines() or ["no output"])[-1][:300]}
    warm = [v for i, v in runs if i >= 1] or [v for _, v in runs]
    return {"tok_per_s": round(statistics.median(warm), 2), "best_tok_per_s": max(warm),
            "runs_tok_per_s": [v for _, v in runs],
            "note": "median of warm runs (run0 compiles); 128 new tokens incl. prefill of 8, batch 1"}


def serve_figures(w, decode):
    """End-to-end output tok/s at each concurrency beside the engine-only decode tok/s at that batch size.
    serve_c<N>.json is the default path; serve_<tag>_c<N>.json another run (old: the host-sampler path)."""
    out = {}
    for f in sorted(w.glob("serve_*c*.json")):
        m = re.fullmatch(r"serve_(?:(\w+)_)?c(\d+)", f.stem)
        r = load(f)
        if not m or not r:
            continue
        tag, conc = m.group(1), int(m.group(2))
        engine = next((d.get("tok_per_s") for d in decode if d.get("batch_size") == conc), None)
        e = {"concurrency": conc, "path": tag or "default", "output_tok_per_s": round(r["output_tok_per_s"], 2),
             "completed": r.get("completed"), "errors": r.get("errors"), "output_len": r.get("output_len"),
             "mean_prompt_tokens": r.get("mean_prompt_tokens"), "duration_s": round(r.get("duration_s", 0), 3),
             "ttft_ms_p50": round(r["ttft_ms"]["p50"], 2), "itl_ms_p50": round(r["itl_ms"]["p50"], 3),
             "tpot_ms_mean": round(r["tpot_ms"]["mean"], 3), "engine_decode_tok_per_s": engine}
        if engine:
            e["ratio_to_engine"] = round(r["output_tok_per_s"] / engine, 3)
            e["within_10pct"] = e["ratio_to_engine"] >= 0.9
        out[f"{tag}_c{conc}" if tag else f"c{conc}"] = e
    return out


def load_figures(w):
    runs = []
    for f in sorted(w.glob("load_*-*.json")):
        d = load(f)
        if not d or "load_gbps" not in d:
            continue
        name, threads = f.stem[len("load_"):].rsplit("-", 1)
        runs.append({"run": name, "threads": int(threads), "load_gbps": round(d["load_gbps"], 2),
                     "load_s": round(d.get("load_s", 0), 3), "weights_gb": round(d.get("weights_gb", 0), 3)})
    if not runs:
        return {}
    try:
        cache = (w / "load_cache.txt").read_text().strip()
    except OSError:
        cache = "unknown"
    runs.sort(key=lambda r: (not r["run"].startswith("cold"), r["run"], r["threads"]))
    return {"checkpoint": "mixtral-8x7b shape, 2 layers, bf16 safetensors, 3 shards", "page_cache_cold_runs": cache,
            "runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpu", required=True)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--commit", default="")
    args = ap.parse_args()
    w = pathlib.Path(args.work)
    ceil = load(w / "ceilings.json") or {}
    bench = load(w / "bench.json") or {}
    copy_gbps = bench.get("copy_gbps") or ceil.get("copy_gbps")
    L = bench.get("layers") or args.layers

    peers = {}
    gf = gptfast_runs(w / "gptfast.log")
    if gf:
        peers["gpt-fast"] = dict(gf, layers=L, batch_size=1)
    hf = load(w / "hf_eager.json")
    if hf:
        peers["transformers-eager"] = hf
    roof1 = copy_gbps * 1e9 / step_bytes(L, 1) if copy_gbps else None
    for p in peers.values():
        if roof1 and p.get("tok_per_s"):
            p["roofline_pct"] = round(100 * p["tok_per_s"] / roof1, 1)

    decode = bench.get("decode", [])
    prefill = [dict(p, path="default") for p in bench.get("prefill", [])]
    bench2 = load(w / "bench_prefill.json") or {}
    prefill += [dict(p, path=f"dense-prefill-min {bench2.get('dense_prefill_min_tokens', '?')}")
                for p in bench2.get("prefill", [])]
    mix1 = next((d.get("tok_per_s") for d in decode if d.get("batch_size") == 1), None)
    if mix1 and peers.get("gpt-fast", {}).get("tok_per_s"):
        peers["gpt-fast"]["mixserve_ratio"] = round(mix1 / peers["gpt-fast"]["tok_per_s"], 3)

    result = {
        "gpu": args.gpu, "kind": args.kind, "date": datetime.date.today().isoformat(), "commit": args.commit,
        "model": "mixtral-8x7b", "layers": L, "dtype": "bf16", "weights": "random",
        "ceilings": {"copy_gbps": copy_gbps, "copy_gbps_torch": ceil.get("copy_gbps"),
                     "bf16_tflops_torch": ceil.get("bf16_tflops")},
        "decode": decode, "prefill": prefill, "peers": peers, "serve": serve_figures(w, decode),
        "load": load_figures(w),
        "correctness": {"tests": load(w / "tests.json"), "logits_vs_transformers": load(w / "compare.json")},
        "roofline_model": {"bytes_per_step_bs1": step_bytes(L, 1), "bytes_per_step_bs64_weights": step_bytes(L, 64),
                           "roofline_tok_per_s_bs1": round(roof1, 1) if roof1 else None},
    }
    problems = []
    tests, logits = result["correctness"]["tests"], result["correctness"]["logits_vs_transformers"]
    if tests is None or tests.get("failed", 1) or tests.get("passed", 0) == 0:
        problems.append("gpu tests failed or did not run")
    if logits is None or not logits.get("pass"):
        problems.append("full-width logits check failed or did not run")
    # Speed figures count only beside a passing correctness verdict from the same binaries (PERF.md §5).
    result["figures_valid"] = not problems
    result["figures_invalid_because"] = problems
    if bench:
        result["bench"] = {k: v for k, v in bench.items() if k not in ("decode", "prefill")}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")

    print("=" * 78)
    print(f"gpu {args.gpu} ({args.kind}); Mixtral-8x7B shape, {L} of {FULL_LAYERS} layers, bf16 random weights")
    fmt = lambda v: f"{v:.0f}" if isinstance(v, (int, float)) else "n/a"  # noqa: E731
    print(f"ceilings: copy {fmt(copy_gbps)} GB/s (torch {fmt(ceil.get('copy_gbps'))}), "
          f"bf16 GEMM {fmt(ceil.get('bf16_tflops'))} TFLOP/s;"
          f" bs=1 reads {step_bytes(L, 1) / 1e9:.2f} GB/step -> roofline {roof1 or 0:.1f} tok/s")
    t = result["correctness"]["tests"]
    if t:
        print(f"gpu tests: {t.get('passed')} passed, {t.get('failed')} failed; compute-sanitizer: {t.get('sanitizer')}")
    c = result["correctness"]["logits_vs_transformers"]
    if c:
        print(f"full-width logits vs transformers bf16: min cosine {c['min_cos_vs_bf16']:.6f} "
              f"-> {'PASS' if c['pass'] else 'FAIL'}")
    if decode:
        print(f"{'decode bs':>10} {'tok/s':>10} {'ms/step':>9} {'roofline%':>10} {'host%':>6} {'graph':>6}")
        for d in decode:
            print(f"{d.get('batch_size'):>10} {d.get('tok_per_s') or 0:>10.1f} {d.get('ms_per_step') or 0:>9.3f} "
                  f"{d.get('roofline_pct') or 0:>10.1f} {d.get('host_pct') or 0:>6.1f} {str(d.get('graph', '')):>6}")
    for p in prefill:
        print(f"prefill {p.get('prompt_len')} tokens: {p.get('ms') or 0:.2f} ms ({p.get('path')})")
    for name, p in peers.items():
        extra = f", mixserve/gpt-fast = {p['mixserve_ratio']}" if "mixserve_ratio" in p else ""
        if "tok_per_s" not in p:
            print(f"peer {name} bs=1: no figure ({p.get('error', 'no output')})")
            continue
        print(f"peer {name} bs=1: {p['tok_per_s']} tok/s ({p.get('roofline_pct', '?')}% of roofline){extra}")
    for key, e in result["serve"].items():
        ratio = f"{e['ratio_to_engine']:.3f} of engine bs{e['concurrency']} {e['engine_decode_tok_per_s']:.1f}" \
            if e.get("ratio_to_engine") else "no engine figure"
        print(f"serve {e['path']} concurrency {e['concurrency']:>2}: {e['output_tok_per_s']:.1f} output tok/s ({ratio}); "
              f"TTFT p50 {e['ttft_ms_p50']:.1f} ms, ITL p50 {e['itl_ms_p50']:.2f} ms, "
              f"{e['completed']} requests x {e['output_len']} tokens, {e['errors']} errors")
    if result["load"]:
        for r in result["load"]["runs"]:
            print(f"load {r['run']:>10} threads {r['threads']}: {r['load_gbps']:.2f} GB/s "
                  f"({r['weights_gb']:.2f} GB in {r['load_s']:.2f} s)")
        print(f"load: page cache before the cold runs: {result['load']['page_cache_cold_runs']} "
              "(warm: could not drop it, so no run was cold)")
    if decode and problems:
        print("!!! mixserve figures above are NOT valid: " + "; ".join(problems))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
