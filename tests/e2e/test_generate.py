"""`mixserve generate` on the tiny models: the golden continuations from transformers, chat
templates, seeded sampling, and one-line errors for bad input."""
import json
import subprocess

import pytest

from conftest import ROOT

DATA = ROOT / "tests" / "data"


def generate(build_dir, *args):
    return subprocess.run([str(build_dir / "mixserve"), "generate", *args], capture_output=True, text=True, timeout=120)


def in_context_text(model, prompt_ids, output_ids):
    """The continuation's text decoded after the prompt (as vLLM and the OpenAI API report it: the leading
    space of a SentencePiece word is kept), from the Hugging Face `tokenizers` package."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(DATA / model / "tokenizer.json"))
    prefix = tok.decode(prompt_ids, skip_special_tokens=True)
    full = tok.decode(prompt_ids + output_ids, skip_special_tokens=True)
    assert full.startswith(prefix)
    return full[len(prefix):]


@pytest.mark.parametrize("model", ["tiny-mixtral", "tiny-mixtral-swa", "tiny-mistral"])
def test_greedy_json_matches_transformers(build_dir, model):
    golden = json.loads((DATA / model / "goldens.json").read_text())["prompts"][1]
    out = generate(build_dir, "--model", str(DATA / model), "--prompt", golden["text"], "--max-tokens", "32",
                   "--temperature", "0", "--ignore-eos", "--json", "--logprobs", "2")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ids"] == golden["greedy_ids"]
    assert result["text"] == in_context_text(model, golden["input_ids"], golden["greedy_ids"])
    assert result["finish_reason"] == "length"
    assert result["usage"] == {"prompt_tokens": len(golden["input_ids"]), "completion_tokens": 32}
    for step in result["logprobs"]:
        assert step["id"] == step["top_logprobs"][0]["id"]  # greedy picks the most likely token
        assert step["logprob"] <= 0 and len(step["top_logprobs"]) == 2


def test_hello_prints_the_golden_continuation(build_dir):
    golden = json.loads((DATA / "tiny-mixtral" / "goldens.json").read_text())["prompts"][0]
    assert golden["text"] == "Hello"
    out = generate(build_dir, "--model", str(DATA / "tiny-mixtral"), "--prompt", "Hello", "--max-tokens", "16",
                   "--temperature", "0")
    assert out.returncode == 0, out.stderr
    ids = json.loads(generate(build_dir, "--model", str(DATA / "tiny-mixtral"), "--prompt", "Hello",
                              "--max-tokens", "16", "--temperature", "0", "--json").stdout)["ids"]
    assert ids == golden["greedy_ids"][:16]
    full = in_context_text("tiny-mixtral", golden["input_ids"], golden["greedy_ids"])
    assert full.startswith(out.stdout.rstrip("\n")) and len(out.stdout.strip()) > 0


def test_seeded_sampling_is_reproducible(build_dir):
    args = ["--model", str(DATA / "tiny-mistral"), "--prompt", "Once upon a time", "--max-tokens", "12",
            "--temperature", "1.0", "--top-p", "0.9", "--json"]
    a = json.loads(generate(build_dir, *args, "--seed", "7").stdout)["ids"]
    b = json.loads(generate(build_dir, *args, "--seed", "7").stdout)["ids"]
    c = json.loads(generate(build_dir, *args, "--seed", "8").stdout)["ids"]
    assert a == b and a != c


def test_chat_template_is_applied(build_dir):
    out = generate(build_dir, "--model", str(DATA / "tiny-mixtral"), "--prompt", "Hi", "--chat", "--max-tokens", "4",
                   "--temperature", "0", "--json")
    assert out.returncode == 0, out.stderr
    # "<s> [INST] Hi [/INST]" is more than the 2-3 tokens of BOS + "Hi".
    assert json.loads(out.stdout)["usage"]["prompt_tokens"] > 5


@pytest.mark.parametrize("args, message", [
    (["--model", "/nonexistent/model", "--prompt", "x"], "/nonexistent/model"),
    (["--model", "s3://bucket/model", "--prompt", "x"], "s3"),
    (["--model", str(DATA / "tiny-mixtral"), "--prompt", "x", "--max-tokens", "5000"], "4096"),
    (["--model", str(DATA / "tiny-mixtral"), "--prompt", "x", "--temperature", "9"], "temperature"),
])
def test_bad_input_is_one_line_error(build_dir, args, message):
    out = generate(build_dir, *args)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mixserve generate: ") and message in lines[0], out.stderr
    assert out.stdout == ""


def test_usage_errors_exit_2(build_dir):
    assert generate(build_dir, "--prompt", "x").returncode == 2
    assert generate(build_dir, "--model", "m", "--prompt", "x", "--bogus").returncode == 2
