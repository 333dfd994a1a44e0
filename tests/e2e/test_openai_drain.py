"""The server's life cycle: /health turns 200 only once it can serve; SIGTERM drains it — requests in
flight (streams and plain) run to their end, new ones get 503 with an OpenAI error and /health
turns 503, and the process exits 0."""
import json
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from serve_fixture import BUILD_DIR, MODEL, NAMES, ServerProcess, assert_openai_error

MAX_TOKENS = 400


def read_stream(url, index, results, started):
    body = {"model": NAMES[0], "prompt": f"Drain stream {index}", "max_tokens": MAX_TOKENS, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True}
    events = []
    try:
        with requests.post(url + "/v1/completions", json=body, stream=True, timeout=120) as r:
            results[index] = {"status": r.status_code}
            for line in r.iter_lines():
                if line:
                    events.append(line.decode())
                    started[index].set()
    except requests.RequestException as err:
        results[index] = {"error": repr(err)}
    results[index]["events"] = events
    started[index].set()


def read_plain(url, results):
    body = {"model": NAMES[1], "prompt": "Drain plain", "max_tokens": MAX_TOKENS, "temperature": 0,
            "ignore_eos": True}
    try:
        results["plain"] = requests.post(url + "/v1/completions", json=body, timeout=120)
    except requests.RequestException as err:
        results["plain"] = err


def test_sigterm_drains_in_flight_and_refuses_new():
    server = ServerProcess("--drain-timeout", "100s")
    try:
        results, started = {}, [threading.Event() for _ in range(4)]
        threads = [threading.Thread(target=read_stream, args=(server.url, i, results, started)) for i in range(4)]
        threads.append(threading.Thread(target=read_plain, args=(server.url, results)))
        for t in threads:
            t.start()
        for e in started:
            assert e.wait(30)
        time.sleep(0.1)  # the plain request is admitted too
        server.proc.send_signal(signal.SIGTERM)

        # While draining: /health says 503 and a new request is refused with 503.
        health, refused = None, None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (health != 503 or refused is None):
            health = requests.get(server.url + "/health", timeout=5).status_code
            if health == 503:
                refused = requests.post(server.base_url + "/completions",
                                        json={"model": NAMES[0], "prompt": "late", "max_tokens": 2}, timeout=5)
        assert health == 503, "/health did not turn 503 after SIGTERM"
        assert server.proc.poll() is None, "exited before the in-flight requests finished"
        assert_openai_error(refused, 503)

        for t in threads:
            t.join(120)
        for i in range(4):
            r = results[i]
            assert r.get("status") == 200 and "error" not in r, r.get("error")
            events = r["events"]
            assert events[-1] == "data: [DONE]", events[-3:]
            chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
            assert chunks[-1]["usage"]["completion_tokens"] == MAX_TOKENS
            assert [c for c in chunks if c["choices"]][-1]["choices"][0]["finish_reason"] == "length"
        plain = results["plain"]
        assert isinstance(plain, requests.Response) and plain.status_code == 200, plain
        assert plain.json()["usage"]["completion_tokens"] == MAX_TOKENS

        assert server.proc.wait(60) == 0, server.stderr_tail()
        # After exit nothing listens any more.
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/health", timeout=2)
    finally:
        server.stop(signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_is_200_only_when_ready():
    """From the moment the process starts, /health is refused or 503 until a completion can be served."""
    port = free_port()
    cmd = [str(BUILD_DIR / "mixserve"), "serve", "--model", str(MODEL), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = requests.get(url + "/health", timeout=2).status_code
            except requests.ConnectionError:
                status = "refused"
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == 200:
                break
            time.sleep(0.01)
        assert seen[-1] == 200 and set(seen[:-1]) <= {"refused", 503}, seen
        # Ready means ready: the first request after the first 200 is served. The default served
        # name is the model folder's name.
        r = requests.post(url + "/v1/completions", json={"model": MODEL.name, "prompt": "Hello", "max_tokens": 2},
                          timeout=60)
        assert r.status_code == 200, r.text
        assert [m["id"] for m in requests.get(url + "/v1/models", timeout=5).json()["data"]] == [MODEL.name]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
