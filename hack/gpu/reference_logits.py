#!/usr/bin/env python3
"""Makes a full-width Mixtral-8x7B-shaped checkpoint with few layers and random bf16 weights, and
its final-position logits from Hugging Face transformers, for the CUDA backend's end-to-end check.

Writes into --out:
  config.json, model.safetensors   the checkpoint, under the Hub's Mixtral tensor names (no tokenizer)
  tokens.json                      {"prompts": [[1, ...], ...]}: the token ids to feed mixserve
  reference.safetensors            logits_bf16 and logits_fp32, F32 [n_prompts, vocab]: transformers'
                                   last-position logits with the model in bf16, then upcast to fp32
Runs on the GPU machine (torch + transformers there); weights are drawn on the GPU from --seed.

    python3 hack/gpu/reference_logits.py --out /tmp/mixtral-2l [--layers 2] [--seed 0]
"""
import argparse
import json
import pathlib
import sys
import time

import torch
from safetensors.torch import save_file

# Mixtral-8x7B-v0.1's config.json, with the layer count as a parameter.
MIXTRAL_8X7B = dict(
    architectures=["MixtralForCausalLM"], model_type="mixtral", hidden_size=4096, intermediate_size=14336,
    num_attention_heads=32, num_key_value_heads=8, head_dim=128, num_local_experts=8, num_experts_per_tok=2,
    vocab_size=32000, max_position_embeddings=32768, rms_norm_eps=1e-5, rope_theta=1e6, sliding_window=None,
    hidden_act="silu", tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16",
    initializer_range=0.02, attention_dropout=0.0, router_aux_loss_coef=0.02, output_router_logits=False,
    use_cache=True)
# Prompt lengths: below and across KV block and chunk boundaries, up to a 1k prefill.
PROMPT_LENS = [5, 16, 17, 64, 129, 256, 511, 1024]


def log(t0, msg):
    print(f"[reference {time.time() - t0:6.1f}s] {msg}", flush=True)


def make_weights(cfg, seed):
    """Random bf16 tensors on the GPU, scaled by 1/sqrt(fan_in) so activations stay O(1)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd, nh, nkv, E = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_local_experts"]

    def rand(*shape, std):
        return (torch.randn(*shape, generator=g, device="cuda", dtype=torch.float32) * std).to(torch.bfloat16)

    def norm(n):
        return (1.0 + 0.1 * torch.randn(n, generator=g, device="cuda")).to(torch.bfloat16)

    w = {"model.embed_tokens.weight": rand(V, H, std=1.0), "model.norm.weight": norm(H),
         "lm_head.weight": rand(V, H, std=H ** -0.5)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(H)
        w[p + "post_attention_layernorm.weight"] = norm(H)
        w[p + "self_attn.q_proj.weight"] = rand(nh * hd, H, std=H ** -0.5)
        w[p + "self_attn.k_proj.weight"] = rand(nkv * hd, H, std=H ** -0.5)
        w[p + "self_attn.v_proj.weight"] = rand(nkv * hd, H, std=H ** -0.5)
        w[p + "self_attn.o_proj.weight"] = rand(H, nh * hd, std=(nh * hd) ** -0.5)
        w[p + "block_sparse_moe.gate.weight"] = rand(E, H, std=H ** -0.5)
        for e in range(E):
            q = f"{p}block_sparse_moe.experts.{e}."
            w[q + "w1.weight"] = rand(I, H, std=H ** -0.5)
            w[q + "w2.weight"] = rand(H, I, std=I ** -0.5)
            w[q + "w3.weight"] = rand(I, H, std=H ** -0.5)
    return w


def last_logits(model, prompts):
    rows = []
    with torch.no_grad():
        for ids in prompts:
            out = model(input_ids=torch.tensor([ids], device="cuda"), use_cache=False)
            rows.append(out.logits[0, -1].float())
    return torch.stack(rows).contiguous().cpu()


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("reference_logits: no GPU visible to torch")
    t0 = time.time()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = dict(MIXTRAL_8X7B, num_hidden_layers=args.layers)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")

    weights = make_weights(cfg, args.seed)
    n_params = sum(t.numel() for t in weights.values())
    save_file({k: v.cpu() for k, v in weights.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    del weights
    torch.cuda.empty_cache()
    log(t0, f"checkpoint: {args.layers} layers, {n_params / 1e9:.2f} B params, "
            f"{(out / 'model.safetensors').stat().st_size / 1e9:.2f} GB in {out}")

    g = torch.Generator().manual_seed(args.seed + 1)
    prompts = [[1] + torch.randint(3, cfg["vocab_size"], (n - 1,), generator=g).tolist() for n in PROMPT_LENS]
    (out / "tokens.json").write_text(json.dumps({"prompts": prompts}) + "\n")

    import transformers
    from transformers import MixtralForCausalLM
    model = MixtralForCausalLM.from_pretrained(str(out), dtype=torch.bfloat16).to("cuda").eval()
    log(t0, f"transformers {transformers.__version__} loaded it (attention: {model.config._attn_implementation})")
    bf16 = last_logits(model, prompts)
    model = model.float()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    fp32 = last_logits(model, prompts)
    save_file({"logits_bf16": bf16, "logits_fp32": fp32}, str(out / "reference.safetensors"))
    cos = cosine(bf16, fp32)
    log(t0, "transformers bf16 vs fp32, cosine per prompt (the bar's noise floor): "
            + " ".join(f"{c:.5f}" for c in cos.tolist()))
    log(t0, f"wrote {out / 'tokens.json'} ({len(prompts)} prompts, lengths {PROMPT_LENS}) and reference.safetensors")


if __name__ == "__main__":
    main()
