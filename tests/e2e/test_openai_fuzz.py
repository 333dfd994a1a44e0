"""1,000 random malformed request bodies over HTTP: random bytes, truncated JSON, wrong types, huge
numbers, bad UTF-8, deep nesting, wrong content types. Each must get a 4xx with an OpenAI-shaped
JSON error, and the server must stay up."""
import json
import random

import pytest
import requests

from serve_fixture import NAMES, serve

SEED = 20261127
COUNT = 1000
M = NAMES[0]


@pytest.fixture(scope="module")
def server():
    yield from serve()


def valid_bodies():
    return [
        ("/completions", {"model": M, "prompt": "Hello there", "max_tokens": 3, "temperature": 0}),
        ("/completions", {"model": M, "prompt": [1, 22557], "max_tokens": 2, "logprobs": 1, "echo": True}),
        ("/chat/completions", {"model": M, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}),
        ("/chat/completions", {"model": M, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                               "max_tokens": 2, "logprobs": True, "top_logprobs": 2, "stream": True,
                               "stream_options": {"include_usage": True}}),
    ]


# Values no field of the API accepts where it matters: each replaces a field that must be something
# else. Strings are wrong for the numeric and boolean fields, numbers and containers for the rest.
WRONG = {
    "model": [42, [], {}, True, 1.5],
    "prompt": [{}, 3.5, [1.5], [[]], [], [-1], [10 ** 12], [True], [{"a": 1}], None],
    "messages": ["hi", 7, {}, [], [1], [{"content": "x"}], [{"role": "user", "content": 3}],
                 [{"role": "wizard", "content": "x"}], [{"role": "user", "content": [{"type": "image_url"}]}],
                 [{"role": "user", "content": [{"type": "text", "text": 5}]}], [{"role": None, "content": "x"}]],
    "max_tokens": ["3", -1, -(2 ** 63), 2 ** 64, 10 ** 40, 1e300, 2.5, [], {}, True],
    "temperature": ["0", -1, 2.0001, 1e308, -1e308, [], {}],
    "top_p": ["1", 0, -0.5, 1.0001, 1e308, []],
    "n": ["2", 0, -3, 10 ** 9, 2 ** 64, 1.5, []],
    "logprobs": ["x", 21, -1, 10 ** 9, [], {}],
    "top_logprobs": [-1, 21, 10 ** 6, "2", []],
    "seed": ["7", 1.5, 2 ** 64, 10 ** 30, [], {}],
    "stop": [5, [5], {"a": 1}, [None], [[]], ["x"] * 1000],
    "stream": ["yes", 1, [], {}],
    "stream_options": ["x", 5, [], {"include_usage": "yes"}],
    "echo": ["no", 2, []],
    "presence_penalty": [2.01, -2.01, "0", 1e308],
    "frequency_penalty": [2.01, -2.01, "0", -1e308],
    "top_k": [-2, "1", 1.5, 2 ** 64],
    "min_p": [-0.1, 1.1, "0"],
    "suffix": ["tail", "x" * 50],
    "user": [5, [], {}],
    "max_completion_tokens": ["3", -1, 10 ** 40, []],
}
# Fields that make sense for only one endpoint: a wrong type there is still an error.
ONLY = {"prompt": "/completions", "echo": "/completions", "suffix": "/completions", "messages": "/chat/completions",
        "top_logprobs": "/chat/completions", "max_completion_tokens": "/chat/completions"}

CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/octet-stream", "", "application/json; charset=latin-1"]


def wrong_type_case(rng):
    field = rng.choice(sorted(WRONG))
    candidates = [b for b in valid_bodies() if ONLY.get(field, b[0]) == b[0]]
    path, body = rng.choice(candidates)
    value = rng.choice(WRONG[field])
    body = dict(body, **{field: value})
    if field == "logprobs" and path == "/chat/completions" and value in (21, -1, 10 ** 9):
        body[field] = "x"  # chat logprobs is a boolean
    if field == "top_logprobs":
        body["logprobs"] = True
    return path, json.dumps(body).encode(), "application/json", f"{field}={value!r:.40}"


def truncated_case(rng):
    path, body = rng.choice(valid_bodies())
    text = json.dumps(body).encode()
    cut = rng.randrange(0, len(text) - 1)
    return path, text[:cut], "application/json", f"truncated at {cut}"


def random_bytes_case(rng):
    path = rng.choice(["/completions", "/chat/completions"])
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    return path, data, rng.choice(CONTENT_TYPES), "random bytes"


def jsonish_garbage_case(rng):
    alphabet = '{}[]:,"\\ 0123456789.eE+-truefalsnl\x00\x7f\u00e9\u4e2d'
    text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 120)))
    path = rng.choice(["/completions", "/chat/completions"])
    return path, ("{" + text).encode("utf-8"), "application/json", "json-ish garbage"


def bad_utf8_case(rng):
    path, body = rng.choice(valid_bodies())
    text = json.dumps(body, ensure_ascii=False).encode()
    junk = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\xe2\x82"])
    # Into a string value: the first string's contents.
    at = text.index(b'"', text.index(b":")) + 1
    return path, text[:at] + junk + text[at:], "application/json", f"bad utf-8 {junk!r}"


def not_an_object_case(rng):
    value = rng.choice([[], [1, 2], "text", 42, 1e308, None, True, [{"model": M}]])
    return rng.choice(["/completions", "/chat/completions"]), json.dumps(value).encode(), "application/json", \
        f"top level {value!r}"


def deep_case(rng):
    depth = rng.choice([100, 1000, 100000])
    inner = "[" * depth + "]" * depth
    path, body = rng.choice(valid_bodies())
    text = json.dumps(body)[:-1] + f', "deep": {inner}}}'
    return path, text.encode(), "application/json", f"nesting {depth}"


def huge_number_case(rng):
    path, body = rng.choice(valid_bodies())
    field = rng.choice(["max_tokens", "n", "seed", "temperature", "top_p", "logprobs"])
    number = rng.choice(["1" + "0" * 400, "-" + "9" * 400, "1e999", "-1e999", "1" * 40 + ".5e" + "9" * 10])
    text = json.dumps(dict(body, **{field: 0}))
    text = text.replace(f'"{field}": 0', f'"{field}": {number}')
    return path, text.encode(), "application/json", f"{field}={number[:12]}..."


def wrong_content_type_case(rng):
    path, data, _, why = rng.choice([truncated_case, jsonish_garbage_case, random_bytes_case])(rng)
    ctype = rng.choice(CONTENT_TYPES[1:])
    return path, data, ctype, f"{why} as {ctype!r}"


GENERATORS = [wrong_type_case] * 8 + [truncated_case] * 3 + [random_bytes_case, jsonish_garbage_case, bad_utf8_case,
                                                              not_an_object_case, deep_case, huge_number_case,
                                                              wrong_content_type_case]


def cases():
    rng = random.Random(SEED)
    for i in range(COUNT):
        yield i, *rng.choice(GENERATORS)(rng)


def test_random_malformed_bodies_get_4xx_json_errors(server):
    session = requests.Session()
    failures = []
    for i, path, data, ctype, why in cases():
        headers = {"Content-Type": ctype} if ctype else {}
        r = session.post(server.base_url + path, data=data, headers=headers, timeout=30)
        problem = None
        if not 400 <= r.status_code < 500:
            problem = f"status {r.status_code}"
        else:
            try:
                error = r.json()["error"]
                if not (isinstance(error.get("message"), str) and error["message"] and isinstance(error.get("type"), str)
                        and "param" in error and "code" in error):
                    problem = f"error body {error!r:.200}"
            except (ValueError, KeyError, TypeError, AttributeError):
                problem = f"body {r.text[:200]!r}"
        if problem:
            failures.append(f"case {i} ({why}) {path}: {problem}")
        if i % 100 == 99:
            server.check_alive()
    server.check_alive()
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    ok = server.client().completions.create(model=M, prompt="Hello", max_tokens=2)
    assert ok.usage.prompt_tokens == 2
    assert not failures, f"{len(failures)} of {COUNT} cases failed (seed {SEED}):\n" + "\n".join(failures[:30])
