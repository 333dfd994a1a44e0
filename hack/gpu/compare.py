#!/usr/bin/env python3
"""Compares mixserve's final-position logits with transformers' (reference_logits.py) per prompt.

Prints, for each prompt: its length, cosine vs transformers bf16 and vs fp32, max |diff| vs fp32, and
whether the argmax agrees; writes the same as JSON with --json. Exits 1 when any prompt's cosine vs
the bf16 reference is under --min-cos (the acceptance bar, 0.999), or a value is not finite.

    python3 hack/gpu/compare.py --ref DIR/reference.safetensors --tokens DIR/tokens.json \
        --got logits.safetensors [--min-cos 0.999] [--json out.json]
"""
import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def cosine(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--got", required=True)
    ap.add_argument("--tensor", default="logits", help="tensor name in --got")
    ap.add_argument("--min-cos", type=float, default=0.999)
    ap.add_argument("--json")
    args = ap.parse_args()
    ref = load_file(args.ref)
    got_file = load_file(args.got)
    if args.tensor not in got_file:
        sys.exit(f"compare: {args.got} has no tensor '{args.tensor}' (has {sorted(got_file)})")
    got = got_file[args.tensor].astype(np.float32)
    bf16, fp32 = ref["logits_bf16"], ref["logits_fp32"]
    lens = [len(p) for p in json.load(open(args.tokens))["prompts"]]
    if got.shape != fp32.shape:
        sys.exit(f"compare: mixserve logits have shape {list(got.shape)}, the reference {list(fp32.shape)}")

    rows, ok = [], True
    print(f"{'prompt':>6} {'len':>5} {'cos_vs_bf16':>11} {'cos_vs_fp32':>11} {'hf_bf16_vs_fp32':>15} "
          f"{'max|d|_fp32':>11} {'argmax':>6}")
    for i, n in enumerate(lens):
        finite = bool(np.isfinite(got[i]).all())
        r = dict(prompt=i, len=n, finite=finite, cos_vs_bf16=cosine(got[i], bf16[i]), cos_vs_fp32=cosine(got[i], fp32[i]),
                 hf_bf16_vs_fp32=cosine(bf16[i], fp32[i]), max_abs_vs_fp32=float(np.abs(got[i] - fp32[i]).max()),
                 argmax_same=int(got[i].argmax()) == int(fp32[i].argmax()))
        r["pass"] = finite and r["cos_vs_bf16"] >= args.min_cos
        ok &= r["pass"]
        rows.append(r)
        print(f"{i:>6} {n:>5} {r['cos_vs_bf16']:>11.6f} {r['cos_vs_fp32']:>11.6f} {r['hf_bf16_vs_fp32']:>15.6f} "
              f"{r['max_abs_vs_fp32']:>11.4f} {'yes' if r['argmax_same'] else 'NO':>6}{'' if r['pass'] else '  FAIL'}")
    worst = min(r["cos_vs_bf16"] for r in rows)
    print(f"full-width Mixtral logits vs transformers: min cosine {worst:.6f} (bar {args.min_cos}): "
          f"{'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pass": ok, "min_cos_vs_bf16": worst, "bar": args.min_cos, "prompts": rows}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
