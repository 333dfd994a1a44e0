#!/usr/bin/env python3
"""Runs the shared gpt-fast peer script (peers/gptfast_mixtral.py, which cannot be edited) with the
Mixtral configs cut to GPTFAST_LAYERS layers, so an H100 (78 GiB) can hold the model: 16 of 32
layers give per-layer figures comparable with a full model on an H200.

The cut is made in-process: gpt-fast's model.transformer_configs is patched before the peer script
imports the same module object. With GPTFAST_LAYERS unset or 0 the configs are left whole.

    GPTFAST_DIR=.../peer/gptfast GPTFAST_LAYERS=16 python3 hack/gpu/gptfast_peer.py PEER_SCRIPT 8x7B
"""
import os
import runpy
import sys

if len(sys.argv) < 2:
    sys.exit("usage: gptfast_peer.py PEER_SCRIPT [8x7B|8x22B]")
script = sys.argv[1]
gptfast_dir = os.environ.get("GPTFAST_DIR", "peer/gptfast")
if not os.path.isfile(os.path.join(gptfast_dir, "model.py")):
    sys.exit(f"gptfast_peer: no gpt-fast model.py in GPTFAST_DIR={gptfast_dir}")
sys.path.insert(0, gptfast_dir)
import model as gptfast_model  # noqa: E402  (the module the peer script imports as M)

layers = int(os.environ.get("GPTFAST_LAYERS", "0") or 0)
if layers > 0:
    for name, cfg in gptfast_model.transformer_configs.items():
        if name.startswith("Mixtral"):
            gptfast_model.transformer_configs[name] = dict(cfg, n_layer=layers)
    print(f"gptfast_peer: Mixtral configs cut to n_layer={layers}", flush=True)
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
