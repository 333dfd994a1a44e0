"""`mixserve serve --random-weights` (a model of a config's shape, random weights, a tokenizer from
elsewhere) on the CPU backend with the tiny config, hack/bench-serve.py against it, and the
one-line errors at start: no GPU for --device cuda or `bench`, a shape too big for CPU random
weights, --max-model-len beyond the KV cache, and flags that do not go together."""
import json
import shutil
import subprocess
import sys

import pytest
import requests

from serve_fixture import MODEL, ROOT, ServerProcess


def run(build_dir, *args):
    return subprocess.run([str(build_dir / "mixserve"), *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def has_gpu():
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def cuda_build(build_dir):
    return "cuda: compiled in" in run(build_dir, "version").stdout


def greedy(server, name, n=12):
    r = requests.post(server.url + "/v1/completions", timeout=60, json={
        "model": name, "prompt": "The river and the mountain", "max_tokens": n, "temperature": 0, "ignore_eos": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["usage"]["completion_tokens"] == n
    return body["choices"][0]["text"]


def test_random_weights_serve_the_tiny_shape_on_cpu():
    servers = []
    try:
        # Shape and tokenizer from --model's folder; then the shape from --config PATH: same seed, same weights.
        servers.append(ServerProcess("--random-weights", "--device", "cpu", "--seed", "7", names=("rand",)))
        servers.append(ServerProcess("--random-weights", "--device", "cpu", "--seed", "7", "--config",
                                     MODEL / "config.json", names=("rand",)))
        servers.append(ServerProcess("--device", "cpu", names=("real",)))
        a, b, real = greedy(servers[0], "rand"), greedy(servers[1], "rand"), greedy(servers[2], "real")
        assert a == b
        assert a != real, "random weights must not be the checkpoint's"
        assert any("cpu backend, random weights (2 layers)" in line for line in servers[0].lines)
        assert any("cpu backend, loaded weights (2 layers)" in line for line in servers[2].lines)
    finally:
        for s in servers:
            s.stop()


def test_bench_serve_counts_fixed_length_outputs(tmp_path):
    server = ServerProcess("--random-weights", "--device", "cpu", "--layers", "1", names=("rand",))
    try:
        assert any("random weights (1 layers)" in line for line in server.lines)
        out = tmp_path / "bench.json"
        proc = subprocess.run([sys.executable, str(ROOT / "hack" / "bench-serve.py"), "--base-url", server.url + "/v1",
                               "--model", "rand", "--num-requests", "6", "--concurrency", "3", "--prompt-len", "12",
                               "--output-len", "10", "--ignore-eos", "--warmup-requests", "2", "--warmup-output-len", "3", "--json", str(out)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        figures = json.loads(out.read_text())
        assert figures["completed"] == 6 and figures["errors"] == 0
        assert figures["total_output_tokens"] == 60
        assert figures["output_tok_per_s"] > 0 and figures["ttft_ms"]["p50"] > 0
        bad = subprocess.run([sys.executable, str(ROOT / "hack" / "bench-serve.py"), "--base-url", server.url + "/v1",
                              "--model", "no-such-model", "--num-requests", "1"], capture_output=True, text=True,
                             timeout=120)
        assert bad.returncode == 1 and "HTTP 404" in bad.stdout
    finally:
        server.stop()


def one_line_error(out, code, text):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, out.stderr
    assert len(lines) == 1, out.stderr
    assert text in lines[0], lines[0]


def test_no_gpu_is_one_line(build_dir):
    if has_gpu():
        pytest.skip("a GPU is present")
    cuda = cuda_build(build_dir)
    out = run(build_dir, "serve", "--device", "cuda", "--model", MODEL, "--port", "0")
    one_line_error(out, 1, "--device cuda: no CUDA GPU found" if cuda else "no CUDA backend in this build")
    out = run(build_dir, "serve", "--device", "cuda", "--random-weights", "--config", "mixtral-8x7b", "--tokenizer",
              MODEL, "--port", "0")
    one_line_error(out, 1, "--device cuda: no CUDA GPU found" if cuda else "no CUDA backend in this build")
    out = run(build_dir, "bench", "--config", "mixtral-8x7b", "--random-weights", "--layers", "2")
    one_line_error(out, 1, "no CUDA GPU found" if cuda else "built without CUDA")


def test_shapes_too_big_for_cpu_random_weights(build_dir):
    out = run(build_dir, "serve", "--random-weights", "--config", "mixtral-8x7b", "--tokenizer", MODEL, "--device",
              "cpu", "--port", "0")
    if cuda_build(build_dir):
        one_line_error(out, 1, "--random-weights on the CPU backend is for small test shapes: this one needs 173.98 GiB")
    else:
        one_line_error(out, 1, "unknown model config 'mixtral-8x7b'")


def test_max_model_len_beyond_the_kv_cache(build_dir):
    # tiny-mixtral: 2 layers x 2 KV heads x 16 dims x fp32 K and V = 8 KiB per 16-token block: 1 MiB = 2048 tokens.
    out = run(build_dir, "serve", "--model", MODEL, "--device", "cpu", "--kv-cache-memory", "1MiB", "--max-model-len",
              "4096", "--port", "0")
    one_line_error(out, 1, "holds 2048 tokens, less than one 4096-token context")
    out = run(build_dir, "serve", "--model", MODEL, "--device", "cpu", "--max-model-len", "8192", "--port", "0")
    one_line_error(out, 1, "--max-model-len 8192 is longer than the model's context of 4096 tokens")


@pytest.mark.parametrize("args,text", [
    (["--random-weights", "--config", "mixtral-8x7b"], "--random-weights --config needs --tokenizer DIR"),
    (["--random-weights"], "--random-weights needs --config mixtral-8x7b|mixtral-8x22b|mistral-7b|PATH or --model DIR"),
    (["--config", "mixtral-8x7b", "--model", str(MODEL)], "--config is for --random-weights"),
    (["--random-weights", "--config", "no-such-shape", "--tokenizer", str(MODEL), "--device", "cpu"],
     "unknown model config 'no-such-shape'"),
])
def test_flags_that_do_not_go_together(build_dir, args, text):
    out = run(build_dir, "serve", *args, "--port", "0")
    one_line_error(out, 2 if "no-such-shape" not in text else 1, text)
