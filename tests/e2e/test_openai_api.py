"""`mixserve serve` through the official openai client (sync, async, streaming): every endpoint and
parameter of the OpenAI API the server implements, usage counts, finish reasons, aliases, and the
greedy output checked against `mixserve generate` (itself checked against transformers)."""
import asyncio
import json

import openai
import pytest
import requests

from serve_fixture import (MODEL, NAMES, assert_openai_error, chat_prompt_tokens, continuation_text, encode,
                           generate_reference, metrics, render_chat, serve)

PROMPTS = json.loads((MODEL / "goldens.json").read_text())["prompts"]
PROMPT = PROMPTS[1]["text"]  # "The capital of France is"


@pytest.fixture(scope="module")
def server():
    yield from serve()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def greedy(client, prompt=PROMPT, max_tokens=32, model=NAMES[0], **kw):
    return client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0, **kw)


def chat(client, messages, max_tokens=16, model=NAMES[0], **kw):
    return client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0, **kw)


def test_health_live_and_models(server, client):
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert requests.get(server.url + "/live", timeout=5).status_code == 200
    models = client.models.list()
    assert [m.id for m in models.data] == list(NAMES)
    for m in models.data:
        assert m.object == "model" and isinstance(m.created, int) and isinstance(m.owned_by, str)
    raw = requests.get(server.base_url + "/models", timeout=5).json()
    assert raw["object"] == "list"


@pytest.mark.parametrize("golden", PROMPTS, ids=lambda g: f"{len(g['input_ids'])}tok")
def test_completion_greedy_equals_generate(client, golden):
    ref = generate_reference(golden["text"], 24)
    out = greedy(client, golden["text"], 24)
    assert out.object == "text_completion" and out.model == NAMES[0] and out.id
    assert len(out.choices) == 1 and out.choices[0].index == 0
    assert out.choices[0].text == continuation_text(golden["input_ids"], ref["ids"])
    assert out.choices[0].finish_reason == ref["finish_reason"]
    assert out.usage.prompt_tokens == len(encode(golden["text"])) == len(golden["input_ids"])
    assert out.usage.completion_tokens == ref["usage"]["completion_tokens"]
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_chat_greedy_equals_generate(client):
    ref = generate_reference("Hi", 20, chat=True)
    messages = [{"role": "user", "content": "Hi"}]
    out = chat(client, messages, max_tokens=20)
    assert out.object == "chat.completion" and out.model == NAMES[0]
    choice = out.choices[0]
    assert choice.message.role == "assistant"
    prompt_ids = encode(render_chat(messages), add_special_tokens=False)
    assert choice.message.content == continuation_text(prompt_ids, ref["ids"])
    assert choice.finish_reason == ref["finish_reason"]
    assert out.usage.prompt_tokens == chat_prompt_tokens(messages) == ref["usage"]["prompt_tokens"]
    assert out.usage.completion_tokens == ref["usage"]["completion_tokens"]


def test_chat_multi_turn_usage_and_text_parts(client):
    messages = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "How are you?"}]
    plain = chat(client, messages, max_tokens=8)
    assert plain.usage.prompt_tokens == chat_prompt_tokens(messages)
    parts = [dict(m, content=[{"type": "text", "text": m["content"]}]) for m in messages]
    assert chat(client, parts, max_tokens=8).choices[0].message.content == plain.choices[0].message.content
    # Several text parts are joined with a newline.
    split = [{"role": "user", "content": [{"type": "text", "text": "How"}, {"type": "text", "text": "are you?"}]}]
    joined = [{"role": "user", "content": "How\nare you?"}]
    out = chat(client, split, max_tokens=8)
    assert out.usage.prompt_tokens == chat_prompt_tokens(joined)
    assert out.choices[0].message.content == chat(client, joined, max_tokens=8).choices[0].message.content


def test_aliases_serve_the_same_model(client):
    a = greedy(client, model=NAMES[0], max_tokens=12)
    b = greedy(client, model=NAMES[1], max_tokens=12)
    assert a.model == NAMES[0] and b.model == NAMES[1]
    assert a.choices[0].text == b.choices[0].text
    c = chat(client, [{"role": "user", "content": "Hi"}], model=NAMES[1])
    assert c.model == NAMES[1]
    with pytest.raises(openai.NotFoundError) as err:
        greedy(client, model="no-such-model")
    assert err.value.status_code == 404 and err.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as err:
        chat(client, [{"role": "user", "content": "Hi"}], model="no-such-model")
    assert err.value.code == "model_not_found"


def test_prompt_as_token_ids(client):
    ids = encode(PROMPT)
    by_ids = greedy(client, prompt=ids, max_tokens=16)
    assert by_ids.usage.prompt_tokens == len(ids)
    assert by_ids.choices[0].text == greedy(client, max_tokens=16).choices[0].text


def test_batch_of_prompts(client):
    prompts = ["Hello", PROMPT, encode("Once upon a time")]
    out = client.completions.create(model=NAMES[0], prompt=prompts, max_tokens=6, n=2, temperature=0)
    assert sorted(c.index for c in out.choices) == list(range(6))  # prompt * n + j
    by_index = {c.index: c.text for c in out.choices}
    for p, prompt in enumerate(prompts):
        alone = greedy(client, prompt=prompt, max_tokens=6).choices[0].text
        assert by_index[2 * p] == by_index[2 * p + 1] == alone
    assert out.usage.prompt_tokens == sum(len(encode(p)) if isinstance(p, str) else len(p) for p in prompts)


def test_completion_default_max_tokens_is_16(client):
    out = client.completions.create(model=NAMES[0], prompt=PROMPT, temperature=0, extra_body={"ignore_eos": True})
    assert out.usage.completion_tokens == 16 and out.choices[0].finish_reason == "length"


def test_max_completion_tokens_and_length_finish(client):
    out = client.chat.completions.create(model=NAMES[0], messages=[{"role": "user", "content": "Hi"}],
                                         max_completion_tokens=7, temperature=0, extra_body={"ignore_eos": True})
    assert out.usage.completion_tokens == 7 and out.choices[0].finish_reason == "length"


def pick_stop(text):
    """A short substring of `text` first occurring in its middle third."""
    for p in range(len(text) // 3, 2 * len(text) // 3):
        stop = text[p:p + 3]
        if stop.strip() and text.find(stop) == p:
            return stop, p
    pytest.fail(f"no usable stop string in {text!r}")


def test_stop_string_finishes_with_stop(client):
    full = greedy(client, max_tokens=32, extra_body={"ignore_eos": True})
    text = full.choices[0].text
    stop, p = pick_stop(text)
    out = greedy(client, max_tokens=32, stop=["never-appears-xyz", stop])
    assert out.choices[0].text == text[:p]
    assert out.choices[0].finish_reason == "stop"
    assert 0 < out.usage.completion_tokens < 32
    # A single stop string works the same; one that never appears runs to the length limit.
    assert greedy(client, max_tokens=32, stop=stop).choices[0].text == text[:p]
    none = greedy(client, max_tokens=32, stop=["never-appears-xyz"], extra_body={"ignore_eos": True})
    assert none.choices[0].finish_reason == "length" and none.choices[0].text == text
    streamed = greedy(client, max_tokens=32, stop=[stop], stream=True)
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text[:p]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_chat_stop_string(client):
    messages = [{"role": "user", "content": "Tell me something"}]
    text = chat(client, messages, max_tokens=32, extra_body={"ignore_eos": True}).choices[0].message.content
    stop, p = pick_stop(text)
    out = chat(client, messages, max_tokens=32, stop=[stop])
    assert out.choices[0].message.content == text[:p] and out.choices[0].finish_reason == "stop"


def test_n_choices(client):
    out = client.completions.create(model=NAMES[0], prompt=PROMPT, max_tokens=8, n=3, temperature=1.0, seed=11,
                                    logprobs=0)
    assert sorted(c.index for c in out.choices) == [0, 1, 2]
    assert out.usage.prompt_tokens == len(encode(PROMPT))  # counted once, not per choice
    assert out.usage.completion_tokens == sum(len(c.logprobs.tokens) for c in out.choices)
    assert len({c.text for c in out.choices}) > 1  # three independent samples
    both = greedy(client, max_tokens=8, n=2)
    single = greedy(client, max_tokens=8).choices[0].text
    assert [c.text for c in both.choices] == [single, single]
    c = client.chat.completions.create(model=NAMES[0], messages=[{"role": "user", "content": "Hi"}], n=2,
                                       max_tokens=5, temperature=0, extra_body={"ignore_eos": True})
    assert sorted(x.index for x in c.choices) == [0, 1] and c.usage.completion_tokens == 10


def test_echo(client):
    plain = greedy(client, max_tokens=10).choices[0].text
    out = greedy(client, max_tokens=10, echo=True)
    assert out.choices[0].text == PROMPT + plain
    assert out.usage.completion_tokens == 10 or out.choices[0].finish_reason == "stop"


def test_completion_logprobs_match_generate(client):
    ref = generate_reference(PROMPT, 12, logprobs=3)
    out = greedy(client, max_tokens=12, logprobs=3)
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 12
    assert lp.text_offset == sorted(lp.text_offset)
    for i, step in enumerate(ref["logprobs"]):
        assert lp.token_logprobs[i] == pytest.approx(step["logprob"], abs=1e-3)
        assert 3 <= len(lp.top_logprobs[i]) <= 4
        assert max(lp.top_logprobs[i].values()) == pytest.approx(lp.token_logprobs[i], abs=1e-5)  # greedy
        expected_top = sorted(t["logprob"] for t in step["top_logprobs"])
        assert sorted(lp.top_logprobs[i].values())[-3:] == pytest.approx(expected_top, abs=1e-3)


def test_chat_logprobs(client):
    messages = [{"role": "user", "content": "Hi"}]
    out = chat(client, messages, max_tokens=6, logprobs=True, top_logprobs=2, extra_body={"ignore_eos": True})
    content = out.choices[0].logprobs.content
    assert len(content) == out.usage.completion_tokens == 6
    for entry in content:
        assert isinstance(entry.token, str) and entry.logprob <= 0
        assert len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-5)  # greedy
        assert entry.bytes is None or bytes(entry.bytes).decode("utf-8", "replace")
    bare = chat(client, messages, max_tokens=6, logprobs=True, extra_body={"ignore_eos": True})
    assert all(e.top_logprobs == [] for e in bare.choices[0].logprobs.content)
    assert chat(client, messages, max_tokens=6).choices[0].logprobs is None


def test_seed_reproducibility(client):
    def sample(seed, **kw):
        return client.completions.create(model=NAMES[0], prompt=PROMPT, max_tokens=16, temperature=1.0, top_p=0.95,
                                          seed=seed, **kw).choices[0].text
    assert sample(7) == sample(7)
    assert sample(7) != sample(8)

    def chat_sample(seed):
        return client.chat.completions.create(model=NAMES[0], messages=[{"role": "user", "content": "Hi"}],
                                              max_tokens=16, temperature=1.0, seed=seed).choices[0].message.content
    assert chat_sample(3) == chat_sample(3) != chat_sample(4)


@pytest.mark.parametrize("params", [
    {"temperature": 1.5, "extra_body": {"top_k": 1}},
    {"temperature": 1.0, "extra_body": {"min_p": 1.0}},
    {"temperature": 1.0, "top_p": 1e-6},
], ids=["top_k", "min_p", "top_p"])
def test_truncating_samplers_reduce_to_greedy(client, params):
    expected = greedy(client, max_tokens=16).choices[0].text
    kw = dict(params)
    extra = kw.pop("extra_body", None)
    for seed in (1, 2):
        out = client.completions.create(model=NAMES[0], prompt=PROMPT, max_tokens=16, seed=seed, extra_body=extra, **kw)
        assert out.choices[0].text == expected


@pytest.mark.parametrize("presence, frequency", [(1.5, 0.0), (0.0, -1.0), (0.5, 0.7)])
def test_penalties_pick_the_penalized_argmax(client, presence, frequency):
    """Greedy with penalties: each token is the argmax of the raw logprobs (which the API reports)
    minus presence * [seen in the output] minus frequency * count in the output."""
    prompt = "1 2 3 4 5 6 7 8 9 10"  # its greedy continuation repeats tokens
    out = greedy(client, prompt, max_tokens=24, logprobs=20, presence_penalty=presence, frequency_penalty=frequency,
                 extra_body={"ignore_eos": True})
    lp = out.choices[0].logprobs
    counts = {}

    def penalized(token, logprob):
        n = counts.get(token, 0)
        return logprob - presence * (n > 0) - frequency * n

    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        best = max(penalized(t, v) for t, v in top.items())
        assert penalized(token, logprob) >= best - 1e-4, (token, logprob, top, counts)
        counts[token] = counts.get(token, 0) + 1
    base = greedy(client, prompt, max_tokens=24, logprobs=0, extra_body={"ignore_eos": True}).choices[0]
    assert len(set(base.logprobs.tokens)) < 24
    assert out.choices[0].text != base.text  # the penalties did change something


def test_penalties_with_other_parameters_in_chat(client):
    out = chat(client, [{"role": "user", "content": "Hi"}], presence_penalty=1.0, frequency_penalty=0.5,
               user="alice", top_p=0.9, seed=3)
    assert out.choices[0].finish_reason in ("stop", "length") and out.usage.completion_tokens > 0


def test_stream_completion(client):
    expected = greedy(client, max_tokens=20)
    stream = greedy(client, max_tokens=20, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    text_chunks = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in text_chunks) == expected.choices[0].text
    assert text_chunks[-1].choices[0].finish_reason == expected.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in text_chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == expected.usage.prompt_tokens
    assert usage_chunk.usage.completion_tokens == expected.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    without = list(greedy(client, max_tokens=5, stream=True))
    assert all(c.usage is None for c in without)


def test_stream_chat(client):
    messages = [{"role": "user", "content": "Hi"}]
    expected = chat(client, messages, max_tokens=12)
    chunks = list(chat(client, messages, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    deltas = [c for c in chunks if c.choices]
    assert deltas[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in deltas) == expected.choices[0].message.content
    assert deltas[-1].choices[0].finish_reason == expected.choices[0].finish_reason
    assert chunks[-1].usage.prompt_tokens == chat_prompt_tokens(messages)
    assert chunks[-1].usage.completion_tokens == expected.usage.completion_tokens
    # Logprobs stream along with the tokens they belong to.
    chunks = list(chat(client, messages, max_tokens=12, stream=True, logprobs=True, top_logprobs=1))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert len(entries) == expected.usage.completion_tokens
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected.choices[0].message.content


def test_stream_n2_and_logprobs(client):
    expected = greedy(client, max_tokens=6, n=2, logprobs=1)
    texts = {0: "", 1: ""}
    tokens = {0: 0, 1: 0}
    for c in greedy(client, max_tokens=6, n=2, logprobs=1, stream=True):
        for choice in c.choices:
            texts[choice.index] += choice.text
            tokens[choice.index] += len(choice.logprobs.tokens) if choice.logprobs else 0
    assert [texts[0], texts[1]] == [c.text for c in expected.choices]
    assert [tokens[0], tokens[1]] == [len(c.logprobs.tokens) for c in expected.choices]


def test_sse_framing(server):
    body = {"model": NAMES[0], "prompt": PROMPT, "max_tokens": 5, "temperature": 0, "stream": True}
    for path in ("/completions", "/chat/completions"):
        if path == "/chat/completions":
            body = {"model": NAMES[0], "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5,
                    "temperature": 0, "stream": True}
        r = requests.post(server.base_url + path, json=body, timeout=60)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.text.endswith("data: [DONE]\n\n")
        events = r.text[:-len("\n\n")].split("\n\n")
        assert events[-1] == "data: [DONE]" and len(events) >= 3
        for event in events[:-1]:
            assert event.startswith("data: ") and "\n" not in event
            json.loads(event[len("data: "):])


def test_async_client_concurrent_and_streaming(server, client):
    expected_completion = greedy(client, max_tokens=10).choices[0].text
    messages = [{"role": "user", "content": "Hi"}]
    expected_chat = chat(client, messages, max_tokens=10).choices[0].message.content

    async def run():
        aclient = server.async_client()
        async def one_stream():
            stream = await aclient.chat.completions.create(model=NAMES[1], messages=messages, max_tokens=10,
                                                           temperature=0, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        jobs = [aclient.completions.create(model=NAMES[0], prompt=PROMPT, max_tokens=10, temperature=0)
                for _ in range(4)]
        jobs += [aclient.chat.completions.create(model=NAMES[0], messages=messages, max_tokens=10, temperature=0)
                 for _ in range(4)]
        jobs += [one_stream() for _ in range(4)]
        results = await asyncio.gather(*jobs)
        await aclient.close()
        return results

    results = asyncio.run(run())
    assert [r.choices[0].text for r in results[:4]] == [expected_completion] * 4
    assert [r.choices[0].message.content for r in results[4:8]] == [expected_chat] * 4
    assert results[8:] == [expected_chat] * 4


def test_metrics_count_tokens_and_requests(server, client):
    names = ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc",
             "vllm:kv_cache_usage_perc", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
             "vllm:time_to_first_token_seconds_count", "vllm:time_per_output_token_seconds_count",
             "vllm:e2e_request_latency_seconds_count", "vllm:e2e_request_latency_seconds_bucket",
             "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"]
    before = metrics(server.url)
    for name in names:
        assert name in before, f"/metrics lacks {name}"
    out = greedy(client, max_tokens=9, extra_body={"ignore_eos": True})
    after = metrics(server.url)
    assert after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"] == out.usage.prompt_tokens
    assert after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"] == 9
    assert after["vllm:e2e_request_latency_seconds_count"] - before["vllm:e2e_request_latency_seconds_count"] == 1
    assert after["vllm:time_to_first_token_seconds_count"] - before["vllm:time_to_first_token_seconds_count"] == 1
    assert after["vllm:num_requests_running"] == 0 and after["vllm:num_requests_waiting"] == 0
    assert after["vllm:kv_cache_usage_perc"] == 0


def test_access_log_line_per_request(server, client):
    out = client.completions.create(model=NAMES[1], prompt="access log probe", max_tokens=3, temperature=0,
                                    extra_body={"ignore_eos": True})
    requests.post(server.base_url + "/completions", data="{", timeout=10)

    def probe(e):
        return e.get("model") == NAMES[1] and e.get("prompt_tokens") == out.usage.prompt_tokens \
            and e.get("completion_tokens") == 3

    log = server.wait_access_log(lambda log: any(probe(e) for e in log) and any(e.get("status") == 400 for e in log))
    ok = [e for e in log if probe(e)]
    assert ok, server.stderr_tail()
    entry = ok[-1]
    assert entry.get("status") == 200 and entry.get("id")
    bad = [e for e in log if e.get("status") == 400]
    assert bad, server.stderr_tail()


def test_unsupported_parameter_errors_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as err:
        greedy(client, max_tokens=5000)
    assert "4096" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=NAMES[0], prompt=PROMPT, suffix="tail", max_tokens=4)
    assert "suffix" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        chat(client, [{"role": "system", "content": "be nice"}, {"role": "user", "content": "Hi"}])
    assert "roles" in err.value.message
    r = requests.post(client.base_url.__str__().rstrip("/") + "/completions", data="{", timeout=10)
    assert_openai_error(r, 400)
