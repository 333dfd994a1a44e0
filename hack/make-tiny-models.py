#!/usr/bin/env python3
"""Makes the tiny random-weight models under tests/data/ and their golden outputs from transformers.

Each model is a real Hugging Face checkpoint in the layout the Hub's Mixtral/Mistral repos use
(config.json + bf16 safetensors, one of them sharded through model.safetensors.index.json), small
enough to commit. Goldens come from transformers itself, run in float32 on the bf16 weights:
last-position logits for several prompts, logits at every position for a fixed sample of vocabulary
ids, and greedy 32-token continuations.

Needs torch and transformers (the GPU machine has both; locally any venv with them works), plus the
npm tokenizer package that hack/setup.sh installs. Weights are drawn from a fixed seed, so rerunning
reproduces the committed files.

    python hack/make-tiny-models.py [--out tests/data] [--check]

--check regenerates into a temporary folder and compares with the committed goldens instead.
"""
import argparse
import json
import pathlib
import shutil
import sys
import tempfile

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKENIZER_DIR = ROOT / "hack" / "npm" / "node_modules" / "@lenml" / "tokenizer-llama2" / "models"

PROMPTS = [
    "Hello",
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n",
    "Mixture-of-experts models route every token to two of eight feed-forward experts, so each "
    "token reads only a fraction of the weights while the model keeps the capacity of all of them.",
]
GREEDY_TOKENS = 32
VOCAB_SAMPLE = 256

MODELS = {
    # Mixtral with full attention, two shards.
    "tiny-mixtral": dict(
        architectures=["MixtralForCausalLM"], model_type="mixtral", hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        num_local_experts=8, num_experts_per_tok=2, sliding_window=None, rope_theta=1e6,
        tie_word_embeddings=False, shards=2, seed=1),
    # Mixtral with a sliding window shorter than the long prompt, 4 experts, tied embeddings.
    "tiny-mixtral-swa": dict(
        architectures=["MixtralForCausalLM"], model_type="mixtral", hidden_size=32, intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, head_dim=8,
        num_local_experts=4, num_experts_per_tok=2, sliding_window=8, rope_theta=1e4,
        tie_word_embeddings=True, shards=1, seed=2, embed_std=0.1),
    # Dense Mistral.
    "tiny-mistral": dict(
        architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=64, intermediate_size=192,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        sliding_window=None, rope_theta=1e6, tie_word_embeddings=False, shards=1, seed=3),
}


def make_config(spec, vocab_size):
    cfg = {k: v for k, v in spec.items() if k not in ("shards", "seed", "embed_std")}
    cfg.update(vocab_size=vocab_size, max_position_embeddings=4096, rms_norm_eps=1e-5, hidden_act="silu",
               bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16", initializer_range=0.02,
               attention_dropout=0.0, use_cache=True)
    if spec["model_type"] == "mixtral":
        cfg.update(router_aux_loss_coef=0.02, output_router_logits=False)
    return cfg


def make_weights(cfg, seed, embed_std):
    """Random bf16 tensors under the checkpoint names the Hub's Mixtral/Mistral repos use."""
    g = torch.Generator().manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd, nh, nkv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def rand(*shape, fan_in=None, std=None):
        std = std if std is not None else fan_in ** -0.5
        return (torch.randn(*shape, generator=g) * std).to(torch.bfloat16)

    def norm(n):
        return (1.0 + 0.1 * torch.randn(n, generator=g)).to(torch.bfloat16)

    # With tied embeddings a small embedding keeps the last token's own row from dominating the
    # logits (else greedy decoding just repeats it).
    w = {"model.embed_tokens.weight": rand(V, H, std=embed_std), "model.norm.weight": norm(H)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rand(V, H, fan_in=H)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(H)
        w[p + "post_attention_layernorm.weight"] = norm(H)
        w[p + "self_attn.q_proj.weight"] = rand(nh * hd, H, fan_in=H)
        w[p + "self_attn.k_proj.weight"] = rand(nkv * hd, H, fan_in=H)
        w[p + "self_attn.v_proj.weight"] = rand(nkv * hd, H, fan_in=H)
        w[p + "self_attn.o_proj.weight"] = rand(H, nh * hd, fan_in=nh * hd)
        if cfg["model_type"] == "mixtral":
            w[p + "block_sparse_moe.gate.weight"] = rand(cfg["num_local_experts"], H, fan_in=H)
            for e in range(cfg["num_local_experts"]):
                q = f"{p}block_sparse_moe.experts.{e}."
                w[q + "w1.weight"] = rand(I, H, fan_in=H)
                w[q + "w2.weight"] = rand(H, I, fan_in=I)
                w[q + "w3.weight"] = rand(I, H, fan_in=H)
        else:
            w[p + "mlp.gate_proj.weight"] = rand(I, H, fan_in=H)
            w[p + "mlp.up_proj.weight"] = rand(I, H, fan_in=H)
            w[p + "mlp.down_proj.weight"] = rand(H, I, fan_in=I)
    return w


def save_checkpoint(weights, out_dir, shards):
    names = list(weights)
    if shards == 1:
        save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
        return
    per = (len(names) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s * per:(s + 1) * per]}
        save_file(part, str(out_dir / fname), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = fname
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def goldens(model_dir, tokenizer, vocab_size):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    sample = torch.linspace(0, vocab_size - 1, VOCAB_SAMPLE).round().to(torch.int64)
    out, tensors = {"prompts": [], "vocab_sample": sample.tolist()}, {}
    with torch.no_grad():
        for i, text in enumerate(PROMPTS):
            ids = [1] + tokenizer.encode(text, add_special_tokens=False).ids  # BOS as add_bos_token says
            logits = model(torch.tensor([ids])).logits[0].float()
            tensors[f"prompt{i}.last_logits"] = logits[-1].contiguous()
            tensors[f"prompt{i}.sampled_logits"] = logits[:, sample].contiguous()
            seq = list(ids)
            for _ in range(GREEDY_TOKENS):  # plain greedy loop: no EOS stop, no generation config
                nxt = int(model(torch.tensor([seq])).logits[0, -1].argmax())
                seq.append(nxt)
            new = seq[len(ids):]
            out["prompts"].append({"text": text, "input_ids": ids, "greedy_ids": new,
                                   "greedy_text": tokenizer.decode(new, skip_special_tokens=False)})
    import transformers
    out["generator"] = {"transformers": transformers.__version__, "torch": torch.__version__, "dtype": "float32"}
    return out, tensors


def build(name, spec, out_root, tokenizer):
    vocab = tokenizer.get_vocab_size()
    cfg = make_config(spec, vocab)
    d = out_root / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_checkpoint(make_weights(cfg, spec["seed"], spec.get("embed_std", 1.0)), d, spec["shards"])
    # transformers needs the tokenizer next to the weights only for decoding; copy it in (git-ignored).
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER_DIR / f, d / f)
    meta, tensors = goldens(d, tokenizer, vocab)
    save_file(tensors, str(d / "goldens.safetensors"))
    (d / "goldens.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "data"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", action="append", help="model name(s) to build")
    args = ap.parse_args()
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        sys.exit(f"make-tiny-models: {TOKENIZER_DIR}/tokenizer.json missing (run hack/setup.sh npm)")
    tokenizer = Tokenizer.from_file(str(TOKENIZER_DIR / "tokenizer.json"))
    torch.manual_seed(0)
    out_root = pathlib.Path(tempfile.mkdtemp()) if args.check else pathlib.Path(args.out)
    bad = 0
    for name, spec in MODELS.items():
        if args.only and name not in args.only:
            continue
        d = build(name, spec, out_root, tokenizer)
        size = sum(f.stat().st_size for f in d.iterdir() if f.suffix in (".safetensors", ".json") and "tokenizer" not in f.name)
        print(f"{name}: {size / 1e6:.1f} MB in {d}")
        if args.check:
            ref = json.loads((pathlib.Path(args.out) / name / "goldens.json").read_text())
            new = json.loads((d / "goldens.json").read_text())
            same = [a["greedy_ids"] == b["greedy_ids"] for a, b in zip(ref["prompts"], new["prompts"])]
            print(f"  greedy continuations identical to committed: {sum(same)}/{len(same)}")
            bad += same.count(False)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
