"""`mixserve serve` as a test fixture: start the server on a free port, wait until it is ready,
keep its stderr (the access log) for assertions, and stop it at the end.

Also the small helpers the OpenAI e2e tests share: the tiny model's tokenizer and chat template in
Python (an implementation independent of the server's), /metrics parsing, and the greedy
reference from `mixserve generate`.
"""
import collections
import json
import os
import pathlib
import re
import signal
import subprocess
import threading
import time

import jinja2
import openai
import pytest
import requests
import tokenizers

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests" / "data" / "tiny-mixtral"
BUILD_DIR = pathlib.Path(os.environ.get("MIXSERVE_BUILD_DIR", ROOT / "build"))
READY_LINE = re.compile(r"mixserve: serving (\S+) on (http://[^\s:]+:(\d+))")
NAMES = ("tiny-mixtral", "mixtral-alias")  # the shared server's served model names


class ServerProcess:
    """A running `mixserve serve`; stderr is drained by a thread so the server never blocks on it."""

    def __init__(self, *args, model=MODEL, names=NAMES, ready_timeout=60.0):
        self.names = list(names)
        cmd = [str(BUILD_DIR / "mixserve"), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0"]
        if names:
            cmd += ["--served-model-name", ",".join(names)]
        self.cmd = cmd + [str(a) for a in args]
        self.lines = collections.deque(maxlen=20000)
        self._ready = threading.Event()
        self.url = None
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _drain(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = READY_LINE.search(line)
            if m and self.url is None:
                self.url = m.group(2)
                self.port = int(m.group(3))
                self._ready.set()
        self._ready.set()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        if self.url is None:
            self.fail("did not print its 'serving ... on http://H:P' line")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("exited while starting")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.fail(f"/health was not 200 within {timeout:.0f}s")

    @property
    def base_url(self):
        return self.url + "/v1"

    @property
    def pid(self):
        return self.proc.pid

    def stderr_tail(self, n=40):
        return "\n".join(list(self.lines)[-n:])

    def fail(self, why):
        pytest.fail(f"mixserve serve {why}; command: {' '.join(self.cmd)}\nstderr tail:\n{self.stderr_tail()}",
                    pytrace=False)

    def check_alive(self):
        if self.proc.poll() is not None:
            self.fail(f"died (exit code {self.proc.returncode})")

    def client(self, **kw):
        kw.setdefault("api_key", "unused")
        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 120)
        return openai.OpenAI(base_url=self.base_url, **kw)

    def async_client(self, **kw):
        kw.setdefault("api_key", "unused")
        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 120)
        return openai.AsyncOpenAI(base_url=self.base_url, **kw)

    def access_log(self):
        """The JSON objects among the stderr lines (one per request)."""
        out = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def wait_access_log(self, done, timeout=10.0):
        """The access log once done(log) holds (stderr is read by a thread), or the last one seen."""
        deadline = time.monotonic() + timeout
        log = self.access_log()
        while not done(log) and time.monotonic() < deadline:
            time.sleep(0.05)
            log = self.access_log()
        return log

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


def serve(*args, **kw):
    """A fixture body: yields a ServerProcess and stops it afterwards, failing if it died meanwhile."""
    server = ServerProcess(*args, **kw)
    try:
        yield server
        server.check_alive()
    finally:
        server.stop()


# The tiny model's tokenizer and chat template, done in Python for cross-checks.
_tokenizer = None


def tokenizer():
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    return _tokenizer


def encode(text, add_special_tokens=True):
    return tokenizer().encode(text, add_special_tokens=add_special_tokens).ids


def render_chat(messages, add_generation_prompt=True):
    config = json.loads((MODEL / "tokenizer_config.json").read_text())

    def raise_exception(message):
        raise jinja2.TemplateError(message)

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(config["chat_template"]).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=config["bos_token"],
        eos_token=config["eos_token"])


def chat_prompt_tokens(messages):
    return len(encode(render_chat(messages), add_special_tokens=False))


def generate_reference(prompt, max_tokens, chat=False, logprobs=None):
    """`mixserve generate` greedy output for `prompt`: {"ids", "text", "logprobs", "finish_reason", "usage"}."""
    args = [str(BUILD_DIR / "mixserve"), "generate", "--model", str(MODEL), "--prompt", prompt, "--max-tokens",
            str(max_tokens), "--temperature", "0", "--json"]
    if chat:
        args.append("--chat")
    if logprobs is not None:
        args += ["--logprobs", str(logprobs)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def continuation_text(prompt_ids, new_ids):
    """The text `new_ids` add after `prompt_ids`, as the OpenAI API reports it (decoded in context, so a
    leading space is kept) and as vLLM computes it."""
    head = tokenizer().decode(list(prompt_ids), skip_special_tokens=True)
    full = tokenizer().decode(list(prompt_ids) + list(new_ids), skip_special_tokens=True)
    assert full.startswith(head)
    return full[len(head):]


def metrics(url):
    """/metrics as {sample name: sum over its label sets}."""
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    values = collections.defaultdict(float)
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0].strip()
        values[name] += float(value)
    return values


def assert_openai_error(response, status, code=None):
    """`response` (requests) carries `status` and an OpenAI-shaped JSON error body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str), error
    if code is not None:
        assert error["code"] == code, error
    return error
