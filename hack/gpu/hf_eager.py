#!/usr/bin/env python3
"""Peer baseline: Hugging Face transformers, eager PyTorch (no compile, no CUDA graphs), decoding at
batch 1 on a Mixtral-8x7B-shaped model with random bf16 weights and --layers layers.

Prefills an 8-token prompt, then times --steps greedy decode steps with CUDA events (after
--warmup untimed ones) and prints one JSON line:
  {"peer": "transformers-eager", "tok_per_s": ..., "ms_per_step": ..., "layers": N, ...}

    python3 hack/gpu/hf_eager.py [--layers 16] [--steps 32]
"""
import argparse
import json
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, default=8)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("hf_eager: no GPU visible to torch")
    t0 = time.time()
    import transformers
    from transformers import MixtralConfig, MixtralForCausalLM
    cfg = MixtralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=args.layers,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=128, num_local_experts=8,
                        num_experts_per_tok=2, max_position_embeddings=32768, rope_theta=1e6, sliding_window=None,
                        rms_norm_eps=1e-5, tie_word_embeddings=False)
    torch.set_default_dtype(torch.bfloat16)  # allocate bf16 directly: fp32 first would not fit
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = MixtralForCausalLM(cfg)
    model.eval()
    n = sum(p.numel() for p in model.parameters())
    print(f"[hf_eager {time.time() - t0:6.1f}s] transformers {transformers.__version__}: {args.layers} layers, "
          f"{n / 1e9:.2f} B params, dtype {next(model.parameters()).dtype}", flush=True)

    ids = torch.randint(3, 32000, (1, args.prompt_len), device="cuda")
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
        cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                start.record()
            out = model(input_ids=tok, past_key_values=cache, use_cache=True)
            cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        end.record()
        torch.cuda.synchronize()
    ms = start.elapsed_time(end) / args.steps
    print(json.dumps({"peer": "transformers-eager", "tok_per_s": round(1000.0 / ms, 2), "ms_per_step": round(ms, 3),
                      "batch_size": 1, "layers": args.layers, "steps": args.steps,
                      "transformers": transformers.__version__, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
