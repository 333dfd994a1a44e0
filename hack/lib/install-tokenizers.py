#!/usr/bin/env python3
"""Copies the npm Llama-2 tokenizer into every tests/data/tiny-* model folder (git-ignored files).

Mixtral folders also get Mixtral-8x7B-Instruct's chat template (tests/data/templates/) in their
tokenizer_config.json. Files are written to a temporary name and renamed, and left alone when
already identical, so reruns are cheap and never leave a half-written file.
"""
import json
import os
import pathlib
import sys
import tempfile


def write_if_changed(path: pathlib.Path, data: bytes):
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(src: str, data_dir: str):
    src_dir, root = pathlib.Path(src), pathlib.Path(data_dir)
    tokenizer = (src_dir / "tokenizer.json").read_bytes()
    config = json.loads((src_dir / "tokenizer_config.json").read_text())
    template_file = root / "templates" / "mixtral-8x7b-instruct.jinja"
    for model in sorted(root.glob("tiny-*")):
        if not (model / "config.json").exists():
            continue
        arch = json.loads((model / "config.json").read_text()).get("architectures", [""])[0]
        cfg = dict(config)
        if arch == "MixtralForCausalLM" and template_file.exists():
            cfg["chat_template"] = template_file.read_text()
        write_if_changed(model / "tokenizer.json", tokenizer)
        write_if_changed(model / "tokenizer_config.json", (json.dumps(cfg, indent=2, ensure_ascii=False) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
