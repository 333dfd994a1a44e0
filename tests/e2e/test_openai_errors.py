"""Every error the OpenAI API defines, as `mixserve serve` answers it: the right HTTP status and an
OpenAI-shaped JSON body, for bad JSON, wrong types, out-of-range values, context overflow, suffix,
roles the chat template rejects, unknown models and routes, API keys and a full queue."""
import concurrent.futures

import openai
import pytest
import requests

from serve_fixture import NAMES, assert_openai_error, encode, serve

M = NAMES[0]
CHAT = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def server():
    yield from serve()


def post(server, path, body=None, data=None, headers=None):
    return requests.post(server.base_url + path, json=body, data=data, headers=headers, timeout=30)


def completion(**fields):
    return {"model": M, "prompt": "Hello", "max_tokens": 4, **fields}


def chat(**fields):
    return {"model": M, "messages": CHAT, "max_tokens": 4, **fields}


@pytest.mark.parametrize("data", [b"{", b"", b"[]", b"null", b"42", b'"text"', b'{"model": "tiny-mixtral",}',
                                  b'{"model": "tiny-mixtral", "prompt": "\xff\xfe"}', b"{'model': 'x'}"],
                         ids=["open-brace", "empty", "array", "null", "number", "string", "trailing-comma",
                              "bad-utf8", "single-quotes"])
@pytest.mark.parametrize("path", ["/completions", "/chat/completions"])
def test_malformed_json_is_400(server, path, data):
    assert_openai_error(post(server, path, data=data, headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("body, param", [
    (completion(max_tokens="ten"), "max_tokens"),
    (completion(max_tokens=4.5), "max_tokens"),
    (completion(temperature="hot"), "temperature"),
    (completion(n="2"), "n"),
    (completion(stream="yes"), "stream"),
    (completion(stop=5), "stop"),
    (completion(stop=["ok", 3]), "stop"),
    (completion(prompt={"text": "Hello"}), "prompt"),
    (completion(prompt=[1.5, 2.5]), "prompt"),
    (completion(prompt=None), "prompt"),
    (completion(seed="7"), "seed"),
    (completion(echo="true"), "echo"),
    (completion(logprobs="2"), "logprobs"),
    (completion(user=5), "user"),
    (completion(model=42), "model"),
    (chat(messages="Hi"), "messages"),
    (chat(messages=[{"role": "user", "content": 5}]), "messages"),
    (chat(messages=[{"role": 1, "content": "Hi"}]), "messages"),
    (chat(messages=["Hi"]), "messages"),
    (chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]),
     "messages"),
    (chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages"),
    (chat(logprobs="yes"), "logprobs"),
    (chat(top_logprobs="2", logprobs=True), "top_logprobs"),
    (chat(stream_options=5, stream=True), "stream_options"),
    (chat(max_completion_tokens="5"), "max_completion_tokens"),
    (chat(presence_penalty="high"), "presence_penalty"),
    (chat(top_k="1"), "top_k"),
])
def test_wrong_types_are_400(server, body, param):
    path = "/chat/completions" if "messages" in body else "/completions"
    error = assert_openai_error(post(server, path, body), 400)
    assert (error["param"] or "").startswith(param) or param in error["message"], error


@pytest.mark.parametrize("body, param", [
    (completion(temperature=-0.5), "temperature"),
    (completion(temperature=2.5), "temperature"),
    (completion(top_p=1.5), "top_p"),
    (completion(top_p=-0.1), "top_p"),
    (completion(max_tokens=-1), "max_tokens"),
    (completion(n=0), "n"),
    (completion(n=100000), "n"),
    (completion(logprobs=21), "logprobs"),
    (completion(logprobs=-1), "logprobs"),
    (completion(presence_penalty=2.5), "presence_penalty"),
    (completion(frequency_penalty=-2.5), "frequency_penalty"),
    (completion(min_p=1.5), "min_p"),
    (completion(top_k=-5), "top_k"),
    (completion(seed=2 ** 70), "seed"),
    (completion(max_tokens=10 ** 30), None),  # a bad range or over the context: either message will do
    (completion(prompt=[1, 22557, 999999]), "prompt"),
    (completion(prompt=[1, -4]), "prompt"),
    (completion(prompt=[]), "prompt"),
    (chat(top_logprobs=21, logprobs=True), "top_logprobs"),
    (chat(top_logprobs=2), "top_logprobs"),  # needs logprobs: true
    (chat(messages=[]), "messages"),
    (chat(stream_options={"include_usage": True}), "stream_options"),  # needs stream: true
    (chat(max_completion_tokens=0), "max_completion_tokens"),
])
def test_out_of_range_is_400(server, body, param):
    path = "/chat/completions" if "messages" in body else "/completions"
    error = assert_openai_error(post(server, path, body), 400)
    assert param is None or (error["param"] or "").startswith(param) or param in error["message"], error


def test_context_length_message_names_both_numbers(server):
    prompt_tokens = len(encode("Hello"))
    error = assert_openai_error(post(server, "/completions", completion(max_tokens=5000)), 400)
    assert "4096" in error["message"], error
    assert str(prompt_tokens + 5000) in error["message"] or (
        str(prompt_tokens) in error["message"] and "5000" in error["message"]), error
    long_prompt = "word " * 5000  # more tokens than the context by itself
    error = assert_openai_error(post(server, "/completions", completion(prompt=long_prompt, max_tokens=1)), 400)
    assert "4096" in error["message"] and str(len(encode(long_prompt))) in error["message"], error
    error = assert_openai_error(post(server, "/chat/completions", chat(max_tokens=4090)), 400)
    assert "4096" in error["message"], error


def test_suffix_is_rejected(server):
    error = assert_openai_error(post(server, "/completions", completion(suffix="the end")), 400)
    assert "suffix" in (error["param"] or "") + error["message"]


@pytest.mark.parametrize("messages, words", [
    ([{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."}], "Only user and assistant"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "must alternate"),
    ([{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}], "must alternate"),
    ([{"role": "assistant", "content": "Hi"}], "must alternate"),
])
def test_template_rejecting_roles_is_400(server, messages, words):
    error = assert_openai_error(post(server, "/chat/completions", chat(messages=messages)), 400)
    assert words in error["message"], error
    with pytest.raises(openai.BadRequestError) as err:
        server.client().chat.completions.create(model=M, messages=messages, max_tokens=4)
    assert words in err.value.message


def test_unknown_model_is_404(server):
    for path, body in (("/completions", completion(model="gpt-4")), ("/chat/completions", chat(model="gpt-4"))):
        error = assert_openai_error(post(server, path, body), 404, code="model_not_found")
        assert "gpt-4" in error["message"]


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v1/completions", 405),
    ("GET", "/v1/chat/completions", 405),
    ("DELETE", "/v1/models", 405),
    ("PUT", "/v1/chat/completions", 405),
    ("GET", "/v1/embeddings", 404),
    ("POST", "/v1/engines/x/completions", 404),
    ("GET", "/nothing/here", 404),
    ("POST", "/v1/completion", 404),
])
def test_unknown_routes_and_methods(server, method, path, status):
    r = requests.request(method, server.url + path, json=completion(), timeout=10)
    assert_openai_error(r, status)


def test_errors_reach_the_client_typed(server):
    client = server.client()
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=M, prompt="Hello", temperature=5)
    assert err.value.status_code == 400 and err.value.param == "temperature"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=CHAT)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=M, messages=CHAT, max_tokens=4, stream=True, n=0)


# --- API keys and the --max-model-len flag ---------------------------------------------------------

KEY = "sk-e2e-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    key_file = tmp_path_factory.mktemp("keys") / "api-keys"
    key_file.write_text(f"\n  {KEY}  \nsk-second-key\n")
    yield from serve("--api-key-file", key_file, "--max-model-len", 256)


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", KEY,
                                    f"Basic {KEY}", "Bearer ", f"bearer{KEY}"])
def test_missing_or_wrong_key_is_401(keyed_server, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path, body in (("POST", "/v1/completions", completion()), ("POST", "/v1/chat/completions", chat()),
                               ("GET", "/v1/models", None)):
        r = requests.request(method, keyed_server.url + path, json=body, headers=headers, timeout=10)
        assert_openai_error(r, 401)


def test_right_key_is_accepted_and_never_logged(keyed_server):
    with pytest.raises(openai.AuthenticationError):
        keyed_server.client(api_key="sk-wrong").models.list()
    client = keyed_server.client(api_key=KEY)
    assert [m.id for m in client.models.list().data] == list(NAMES)
    out = client.completions.create(model=M, prompt="Hello", max_tokens=3, temperature=0)
    assert out.usage.prompt_tokens == 2
    assert keyed_server.client(api_key="sk-second-key").models.list().data
    assert requests.get(keyed_server.url + "/health", timeout=5).status_code == 200  # probes carry no key
    log = "\n".join(keyed_server.lines)
    assert KEY not in log and "sk-wrong" not in log and "sk-second-key" not in log


def test_max_model_len_flag(keyed_server):
    headers = {"Authorization": f"Bearer {KEY}"}
    prompt = [1] + [22557] * 249  # 250 tokens; the server's context is 256
    r = requests.post(keyed_server.base_url + "/completions", json=completion(prompt=prompt, max_tokens=7),
                      headers=headers, timeout=30)
    error = assert_openai_error(r, 400)
    assert "256" in error["message"] and ("257" in error["message"] or "250" in error["message"]), error
    r = requests.post(keyed_server.base_url + "/completions",
                      json=completion(prompt=prompt, max_tokens=6, ignore_eos=True), headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["usage"] == {"prompt_tokens": 250, "completion_tokens": 6, "total_tokens": 256,
                                 **{k: v for k, v in r.json()["usage"].items() if k == "prompt_tokens_details"}}


# --- a full queue ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def queue_server():
    yield from serve("--max-queue", 1, "--max-num-seqs", 1)


def test_full_queue_is_429_with_retry_after(queue_server):
    client = queue_server.client()

    def send(i):
        try:
            return client.completions.create(model=M, prompt=f"Queue {i}", max_tokens=48, temperature=0,
                                             extra_body={"ignore_eos": True})
        except openai.RateLimitError as err:
            return err

    # One runs, one waits, the rest find the queue full (how many get in depends on timing).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    served = [r for r in results if not isinstance(r, openai.RateLimitError)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(served) >= 1 and len(refused) >= 1 and len(served) + len(refused) == 8, results
    assert all(r.usage.completion_tokens == 48 for r in served)
    for err in refused:
        assert err.status_code == 429
        assert_openai_error(err.response, 429)
        assert int(err.response.headers["Retry-After"]) >= 0
    queue_server.check_alive()
    assert client.completions.create(model=M, prompt="Hello", max_tokens=2).usage.prompt_tokens == 2
