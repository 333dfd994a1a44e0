"""Files written by Hugging Face's `safetensors` package (and bf16 files written by hand, since its
numpy API has no bf16) read back through `mixserve inspect-weights` with the same names, dtypes,
shapes and values, single-file and sharded."""
import json
import math
import struct
import subprocess

import numpy as np
import pytest
from safetensors.numpy import save_file


def inspect(build_dir, model_dir, tensor=None):
    args = [str(build_dir / "mixserve"), "inspect-weights", "--model", str(model_dir)]
    if tensor is not None:
        args += ["--tensor", tensor]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def inspect_json(build_dir, model_dir, tensor=None):
    out = inspect(build_dir, model_dir, tensor)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def as_float32(values):
    """inspect-weights' values (numbers, or "nan"/"inf"/"-inf") as float32."""
    return np.array([float(v) for v in values], dtype=np.float32)


def assert_same_values(got, want):
    want = np.asarray(want, dtype=np.float32).ravel()
    got = as_float32(got)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    assert np.array_equal(got[finite], want[finite])
    # -0.0 and 0.0 compare equal; the sign must survive too.
    assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite]))


def write_bf16_file(path, tensors):
    """Writes a safetensors file of bf16 tensors given as float32 arrays (truncated to bf16).
    Returns the float32 values the bf16 bits stand for."""
    header, data, exact = {}, b"", {}
    for name, values in tensors.items():
        bits = (np.asarray(values, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
        raw = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(bits.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
        exact[name] = (bits.astype(np.uint32) << 16).view(np.float32)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the reference writer pads the header to 8 bytes; so do we
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return exact


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_single_file_f32_f16(build_dir, tmp_path, rng):
    tensors = {
        "model.embed_tokens.weight": rng.standard_normal((5, 3)).astype(np.float32),
        "model.norm.weight": np.array([1.0, -0.0, 1e-38, 3.4e38], dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((4, 2, 3)).astype(np.float16),
        # fp16 edge cases: subnormals (smallest, largest), max finite, infinities, NaN, signed zero.
        "edge.f16": np.array([5.96e-08, 6.097555e-05, 65504, np.inf, -np.inf, np.nan, -0.0], dtype=np.float16),
    }
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})

    listing = inspect_json(build_dir, tmp_path)
    got = {t["name"]: t for t in listing["tensors"]}
    assert set(got) == set(tensors)
    for name, array in tensors.items():
        assert got[name]["dtype"] == {"float32": "F32", "float16": "F16"}[array.dtype.name]
        assert got[name]["shape"] == list(array.shape)
        assert got[name]["file"] == "model.safetensors"
        one = inspect_json(build_dir, tmp_path, name)
        assert one["shape"] == list(array.shape)
        assert_same_values(one["values"], array.astype(np.float32))
    edge = inspect_json(build_dir, tmp_path, "edge.f16")["values"]
    assert edge[3:6] == ["inf", "-inf", "nan"]
    assert float(edge[0]) == 2.0 ** -24


def test_bf16_written_by_hand(build_dir, tmp_path, rng):
    values = {
        "lm_head.weight": rng.standard_normal((3, 4)).astype(np.float32),
        "edge.bf16": np.array([1.0, -2.5, 9.2e-41, np.inf, -np.inf, np.nan, 3.3895314e38], dtype=np.float32),
    }
    exact = write_bf16_file(tmp_path / "model.safetensors", values)
    for name, want in exact.items():
        one = inspect_json(build_dir, tmp_path, name)
        assert one["dtype"] == "BF16"
        assert one["shape"] == list(values[name].shape)
        assert_same_values(one["values"], want)


def test_sharded_checkpoint(build_dir, tmp_path, rng):
    shard1 = {
        "model.embed_tokens.weight": rng.standard_normal((8, 4)).astype(np.float32),
        "model.layers.0.mlp.gate.weight": rng.standard_normal((4, 4)).astype(np.float16),
    }
    shard2 = {"model.layers.0.block_sparse_moe.experts.0.w1.weight": rng.standard_normal((6, 4)).astype(np.float32)}
    save_file(shard1, str(tmp_path / "model-00001-of-00003.safetensors"))
    save_file(shard2, str(tmp_path / "model-00002-of-00003.safetensors"))
    exact3 = write_bf16_file(tmp_path / "model-00003-of-00003.safetensors",
                             {"lm_head.weight": rng.standard_normal((8, 4)).astype(np.float32)})
    weight_map = {name: "model-00001-of-00003.safetensors" for name in shard1}
    weight_map.update({name: "model-00002-of-00003.safetensors" for name in shard2})
    weight_map["lm_head.weight"] = "model-00003-of-00003.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}, indent=2))

    listing = inspect_json(build_dir, tmp_path)
    assert {t["name"]: t["file"] for t in listing["tensors"]} == weight_map
    want = {**{k: v.astype(np.float32) for k, v in {**shard1, **shard2}.items()}, **exact3}
    for name, values in want.items():
        assert_same_values(inspect_json(build_dir, tmp_path, name)["values"], values)


def test_errors_are_one_line(build_dir, tmp_path):
    save_file({"ids": np.arange(4, dtype=np.int32)}, str(tmp_path / "model.safetensors"))
    out = inspect(build_dir, tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"mixserve inspect-weights: {tmp_path}/model.safetensors: "
                                  "tensor ids: unsupported dtype I32 (supported: BF16, F16, F32)")

    save_file({"w": np.ones(4, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:-3])
    out = inspect(build_dir, tmp_path)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "tensor w: data_offsets [0, 16] run past the end of the data section (13 bytes)" in out.stderr

    (tmp_path / "model.safetensors").write_bytes(data)
    out = inspect(build_dir, tmp_path, "absent")
    assert out.returncode == 1
    assert out.stderr.strip() == f"mixserve inspect-weights: tensor absent not found in {tmp_path}"

    out = subprocess.run([str(build_dir / "mixserve"), "inspect-weights"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--model is required" in out.stderr


def test_float_formatting_round_trips(build_dir, tmp_path):
    # Values whose shortest decimal form needs all nine significant digits of a float32.
    values = np.array([0.1, 1 / 3, math.pi, 1.0000001, 16777215.0], dtype=np.float32)
    save_file({"v": values}, str(tmp_path / "model.safetensors"))
    assert_same_values(inspect_json(build_dir, tmp_path, "v")["values"], values)
