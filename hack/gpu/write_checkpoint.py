#!/usr/bin/env python3
"""Writes a full-width Mixtral-8x7B-shaped safetensors checkpoint with few layers of random bf16
weights, sharded as the Hub does (one shard per layer plus one for embeddings, final norm and
lm_head, with model.safetensors.index.json), for timing `mixserve bench --model DIR --load-only`.

Values are drawn on the GPU when torch sees one (fast), else on the CPU; their scale does not matter
for a load benchmark. Prints one JSON line: {"dir", "bytes", "files", "write_s"}.

    python3 hack/gpu/write_checkpoint.py --out /tmp/mixtral-load [--layers 2] [--seed 0]
"""
import argparse
import json
import pathlib
import time

import torch
from safetensors.torch import save_file

SHAPE = dict(hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
             num_local_experts=8, num_experts_per_tok=2, vocab_size=32000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(args.seed)
    H, I, V = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"]
    nh, nkv, hd, E = SHAPE["num_attention_heads"], SHAPE["num_key_value_heads"], SHAPE["head_dim"], SHAPE["num_local_experts"]

    def rand(*shape):
        return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()

    config = dict(architectures=["MixtralForCausalLM"], model_type="mixtral", num_hidden_layers=args.layers,
                  max_position_embeddings=32768, rms_norm_eps=1e-5, rope_theta=1e6, sliding_window=None,
                  hidden_act="silu", tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                  torch_dtype="bfloat16", **SHAPE)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    n_files = args.layers + 1
    weight_map, total = {}, 0

    def write(index, tensors):
        nonlocal total
        name = f"model-{index + 1:05d}-of-{n_files:05d}.safetensors"
        save_file(tensors, str(out / name), metadata={"format": "pt"})
        for k, v in tensors.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()

    write(0, {"model.embed_tokens.weight": rand(V, H), "lm_head.weight": rand(V, H),
              "model.norm.weight": torch.ones(H, dtype=torch.bfloat16)})
    for i in range(args.layers):
        p = f"model.layers.{i}."
        t = {p + "input_layernorm.weight": torch.ones(H, dtype=torch.bfloat16),
             p + "post_attention_layernorm.weight": torch.ones(H, dtype=torch.bfloat16),
             p + "self_attn.q_proj.weight": rand(nh * hd, H), p + "self_attn.k_proj.weight": rand(nkv * hd, H),
             p + "self_attn.v_proj.weight": rand(nkv * hd, H), p + "self_attn.o_proj.weight": rand(H, nh * hd),
             p + "block_sparse_moe.gate.weight": rand(E, H)}
        for e in range(E):
            q = f"{p}block_sparse_moe.experts.{e}."
            t[q + "w1.weight"] = rand(I, H)
            t[q + "w2.weight"] = rand(H, I)
            t[q + "w3.weight"] = rand(I, H)
        write(i + 1, t)
        del t
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1) + "\n")
    print(json.dumps({"dir": str(out), "bytes": total, "files": n_files, "write_s": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
