"""The serving engine behind `mixserve serve`: continuous batching gives every request the tokens
it gets alone (also with chunked prefill and preemption), the prefix cache is hit by a shared
prefix, and a client that disconnects frees its KV blocks."""
import concurrent.futures
import random
import time

import pytest

from serve_fixture import NAMES, continuation_text, encode, generate_reference, metrics, serve

M = NAMES[0]


@pytest.fixture(scope="module")
def server():
    yield from serve()


# A small step budget and a KV cache far smaller than the 32 requests need together: prefill goes
# in chunks and running sequences are preempted and recomputed.
@pytest.fixture(scope="module")
def tight_server():
    yield from serve("--max-num-batched-tokens", 64, "--max-num-seqs", 24, "--max-model-len", 512,
                     "--kv-cache-memory", "256KiB")  # 32 blocks of 16 tokens on the CPU backend (fp32)


def mixed_requests(count=32, seed=5):
    rng = random.Random(seed)
    words = ["alpha", "river", "stone", "quantum", "blue", "market", "seven", "garden", "engine", "cloud", "paper",
             "north", "violet", "signal", "harbor", "copper"]
    out = []
    for i in range(count):
        prompt = f"Request {i}: " + " ".join(rng.choice(words) for _ in range(rng.choice([1, 3, 10, 40, 120, 300])))
        out.append((prompt, rng.choice([1, 2, 5, 16, 33, 64])))
    return out


def run_one(client, prompt, max_tokens):
    r = client.completions.create(model=M, prompt=prompt, max_tokens=max_tokens, temperature=0, logprobs=0)
    c = r.choices[0]
    return c.text, c.logprobs.tokens, c.finish_reason, r.usage.completion_tokens


@pytest.mark.parametrize("which", ["server", "tight_server"])
def test_concurrent_greedy_equals_one_at_a_time(request, which):
    srv = request.getfixturevalue(which)
    client = srv.client()
    reqs = mixed_requests()
    alone = [run_one(client, p, n) for p, n in reqs]
    with concurrent.futures.ThreadPoolExecutor(len(reqs)) as pool:
        together = list(pool.map(lambda r: run_one(client, *r), reqs))
    for i, (a, b) in enumerate(zip(alone, together)):
        assert a == b, f"request {i} ({len(encode(reqs[i][0]))} prompt tokens, max_tokens {reqs[i][1]}) differs"
    after = metrics(srv.url)
    assert after["vllm:kv_cache_usage_perc"] == 0 and after["vllm:num_requests_running"] == 0
    # And one of them against `mixserve generate`, which runs without batching.
    prompt, n = reqs[7]
    assert together[7][0] == continuation_text(encode(prompt), generate_reference(prompt, n)["ids"])


def test_preempted_requests_get_their_own_tokens(tight_server):
    """Two requests that fit the 512-token KV cache alone but not together: one is preempted and
    recomputed, and both still get exactly the tokens they get alone."""
    client = tight_server.client()
    prompts = [" ".join([word] * 150) for word in ("garden", "river")]  # nothing in common to share
    assert all(150 <= len(encode(p)) <= 160 for p in prompts)

    def run(prompt):
        r = client.completions.create(model=M, prompt=prompt, max_tokens=150, temperature=0, logprobs=0,
                                      extra_body={"ignore_eos": True})
        return r.choices[0].text, r.choices[0].logprobs.tokens
    alone = [run(p) for p in prompts]
    before = metrics(tight_server.url)["vllm:num_preemptions_total"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        together = list(pool.map(run, prompts))
    assert metrics(tight_server.url)["vllm:num_preemptions_total"] > before
    assert together == alone


def test_prefix_cache_hits_for_a_shared_prefix(server):
    client = server.client()
    prefix = "You are a careful assistant. " + " ".join(f"Rule {i}: answer plainly and check twice." for i in range(60))
    prefix_tokens = len(encode(prefix))
    assert prefix_tokens > 500

    def hits_for(prompt):
        before = metrics(server.url)
        out = client.completions.create(model=M, prompt=prompt, max_tokens=8, temperature=0)
        after = metrics(server.url)
        hits = after["vllm:prefix_cache_hits_total"] - before["vllm:prefix_cache_hits_total"]
        details = out.usage.prompt_tokens_details
        assert details is None or details.cached_tokens == hits
        return hits, after["vllm:prefix_cache_queries_total"] - before["vllm:prefix_cache_queries_total"], \
            out.choices[0].text

    cold_hits, cold_queries, _ = hits_for(prefix + " Question one: what is the rule count?")
    assert cold_hits < 32 and cold_queries > 0
    second = prefix + " Question two: which rule comes first?"
    warm_hits, warm_queries, warm_text = hits_for(second)
    assert prefix_tokens - 32 <= warm_hits <= len(encode(second)), (warm_hits, prefix_tokens)
    assert warm_queries >= warm_hits
    # Cached blocks give the same tokens as computing the prompt afresh.
    assert warm_text == continuation_text(encode(second), generate_reference(second, 8)["ids"])
    unrelated_hits, _, _ = hits_for("A different opening entirely. " + "Nothing shared here at all. " * 40)
    assert unrelated_hits < 32


def test_disconnect_frees_kv_blocks(server):
    client = server.client()
    logged = len(server.access_log())
    streams = []
    for i in range(4):
        stream = client.completions.create(model=M, prompt=f"Stream {i} goes on and on", max_tokens=3000,
                                           temperature=0, stream=True, extra_body={"ignore_eos": True})
        next(iter(stream))
        streams.append(stream)
    busy = metrics(server.url)
    assert busy["vllm:num_requests_running"] == 4
    assert busy["vllm:kv_cache_usage_perc"] > 0
    assert busy["vllm:gpu_cache_usage_perc"] == busy["vllm:kv_cache_usage_perc"]  # the older name, same gauge
    for stream in streams:
        stream.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = metrics(server.url)
        if m["vllm:num_requests_running"] == 0 and m["vllm:kv_cache_usage_perc"] == 0:
            break
        time.sleep(0.05)
    assert m["vllm:num_requests_running"] == 0 and m["vllm:num_requests_waiting"] == 0
    assert m["vllm:kv_cache_usage_perc"] == 0
    # They ended early, not after their 3000 tokens.
    ended = [e for e in server.access_log()[logged:] if e.get("stream")]
    assert len(ended) == 4 and all(e["completion_tokens"] < 3000 for e in ended), ended
    assert client.completions.create(model=M, prompt="still serving", max_tokens=2).usage.completion_tokens >= 1
