#!/usr/bin/env python3
"""Load test for `mixserve serve`: many concurrent streaming clients for a while, some of them
hanging up mid-stream, then checks that the server recovers.

  hack/load-serve.py --spawn [--build-dir build] [--model tests/data/tiny-mixtral] [--clients 200]
                     [--duration 60] [--disconnect-fraction 0.2] [-- extra serve flags]
  hack/load-serve.py --base-url http://127.0.0.1:8000 --pid PID [--model-name NAME] ...

Each client loops until --duration is over: it streams a completion (random prompt and length,
usage included) and, with probability --disconnect-fraction, closes the connection after a random
number of chunks. Streams that are not cut must end with a finish reason, the requested number of
tokens when it is "length", and no error. After a warm-up phase of the same load the server's RSS
(VmRSS of /proc/PID/status) is taken as the start; after the run the script waits until /metrics
shows no running or waiting request and KV usage 0, and the RSS back within --rss-tolerance of the
start. Prints requests served, errors and RSS start/peak/end; exits 1 on any violation.
"""
import argparse
import asyncio
import collections
import json
import pathlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import openai

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORDS = ("river stone quantum blue market seven garden engine cloud paper north violet signal harbor copper "
         "lantern meadow orbit pixel thunder velvet walnut yonder zephyr amber bridge canyon delta ember").split()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", help="server root, e.g. http://127.0.0.1:8000 (without --spawn)")
    p.add_argument("--pid", type=int, help="the server's process id, for its RSS (without --spawn)")
    p.add_argument("--spawn", action="store_true", help="start `mixserve serve` on a free port and stop it after")
    p.add_argument("--build-dir", default=str(ROOT / "build"))
    p.add_argument("--model", default=str(ROOT / "tests" / "data" / "tiny-mixtral"), help="--model for --spawn")
    p.add_argument("--model-name", default="load", help="served model name to request")
    p.add_argument("--api-key", default="unused")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load after the warm-up")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of the same load before RSS is taken")
    p.add_argument("--disconnect-fraction", type=float, default=0.2)
    p.add_argument("--prompt-words", default="4:64", help="min:max words per prompt")
    p.add_argument("--max-tokens", default="8:96", help="min:max tokens per completion")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds to wait for the server to go idle")
    p.add_argument("--rss-tolerance", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("serve_args", nargs="*", help="after --: extra flags for `mixserve serve` (with --spawn)")
    args = p.parse_args()
    if not args.spawn and not (args.base_url and args.pid):
        p.error("either --spawn or both --base-url and --pid")
    return args


def span(text):
    lo, _, hi = text.partition(":")
    return int(lo), int(hi or lo)


class SpawnedServer:
    """`mixserve serve` started by this script; its stderr goes to a file, the ready line is parsed."""

    def __init__(self, args):
        self.log_path = pathlib.Path(f"/tmp/load-serve-{int(time.time())}.log")
        cmd = [str(pathlib.Path(args.build_dir) / "mixserve"), "serve", "--model", args.model, "--host", "127.0.0.1",
               "--port", "0", "--served-model-name", args.model_name, *args.serve_args]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.write(line)
                m = re.search(rb"mixserve: serving \S+ on (http://\S+)", line)
                if m and not self.url:
                    self.url = m.group(1).decode()
                    ready.set()
            self.log.flush()
            ready.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not ready.wait(60) or not self.url:
            self.proc.kill()
            sys.exit(f"load-serve: the server did not start; log in {self.log_path}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(5)
        self.log.close()
        return code


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    values = collections.defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name.split("{", 1)[0]] += float(value)
    return values


def wait_healthy(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"load-serve: {url}/health not 200 within {timeout}s")


class Tally:
    def __init__(self):
        self.completed = 0
        self.disconnected = 0
        self.errors = collections.Counter()
        self.error_examples = []
        self.tokens = 0

    def error(self, kind, detail):
        self.errors[kind] += 1
        if len(self.error_examples) < 10:
            self.error_examples.append(f"{kind}: {detail}")


async def one_request(client, args, rng, tally):
    words = rng.randint(*span(args.prompt_words))
    prompt = " ".join(rng.choice(WORDS) for _ in range(words))
    max_tokens = rng.randint(*span(args.max_tokens))
    cut_after = rng.randint(1, max(1, max_tokens - 1)) if rng.random() < args.disconnect_fraction else None
    stream = await client.completions.create(model=args.model_name, prompt=prompt, max_tokens=max_tokens,
                                             temperature=rng.choice([0.0, 0.8]), stream=True,
                                             stream_options={"include_usage": True})
    chunks, finish, usage = 0, None, None
    async for chunk in stream:
        if chunk.choices:
            chunks += 1
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
        if cut_after is not None and chunks >= cut_after:
            await stream.close()
            tally.disconnected += 1
            return
    if finish not in ("stop", "length") or usage is None:
        tally.error("bad-end", f"finish {finish!r}, usage {usage!r}")
    elif finish == "length" and usage.completion_tokens != max_tokens:
        tally.error("bad-usage", f"{usage.completion_tokens} tokens, asked {max_tokens}")
    else:
        tally.completed += 1
        tally.tokens += usage.completion_tokens


async def client_loop(client, args, seed, until, tally):
    rng = random.Random(seed)
    while time.monotonic() < until:
        try:
            await one_request(client, args, rng, tally)
        except openai.APIStatusError as err:
            tally.error(f"http-{err.status_code}", err.message)
        except (openai.APIError, OSError) as err:
            tally.error(type(err).__name__, str(err)[:200])


async def run_load(url, args, seconds, seed_base, pid, peak):
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=args.api_key, max_retries=0, timeout=300)
    tally = Tally()
    until = time.monotonic() + seconds
    done = asyncio.Event()

    async def sample_rss():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(*(client_loop(client, args, seed_base + i, until, tally) for i in range(args.clients)))
    done.set()
    await sampler
    await client.close()
    return tally


def wait_idle(url, timeout):
    """The last /metrics seen, after it shows no running or waiting request and KV usage 0 (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(url)
        idle = m["vllm:num_requests_running"] == 0 and m["vllm:num_requests_waiting"] == 0 and \
            m["vllm:kv_cache_usage_perc"] == 0
        if idle or time.monotonic() > deadline:
            return idle, m
        time.sleep(0.2)


def main():
    args = parse_args()
    spawned = SpawnedServer(args) if args.spawn else None
    url = spawned.url if spawned else args.base_url.rstrip("/")
    pid = spawned.proc.pid if spawned else args.pid
    wait_healthy(url)
    violations = []
    peak = [rss_kib(pid)]

    t0 = time.monotonic()
    asyncio.run(run_load(url, args, args.warmup, 10_000 + args.seed * 1000, pid, peak))
    idle, _ = wait_idle(url, args.idle_timeout)
    if not idle:
        violations.append("not idle after the warm-up")
    rss_start = rss_kib(pid)
    peak = [rss_start]

    t1 = time.monotonic()
    tally = asyncio.run(run_load(url, args, args.duration, args.seed * 1000, pid, peak))
    load_s = time.monotonic() - t1
    idle, m = wait_idle(url, args.idle_timeout)
    if not idle:
        violations.append(f"not idle {args.idle_timeout:.0f}s after the load: running "
                          f"{m['vllm:num_requests_running']:.0f}, waiting {m['vllm:num_requests_waiting']:.0f}, "
                          f"KV usage {m['vllm:kv_cache_usage_perc']}")
    # The allocator may hand memory back a little after the last request: give it a few seconds.
    deadline = time.monotonic() + 10
    rss_end = rss_kib(pid)
    while rss_end > rss_start * (1 + args.rss_tolerance) and time.monotonic() < deadline:
        time.sleep(0.5)
        rss_end = rss_kib(pid)
    if rss_end > rss_start * (1 + args.rss_tolerance):
        violations.append(f"RSS {rss_end} KiB is more than {args.rss_tolerance:.0%} above its start {rss_start} KiB")
    errors = sum(tally.errors.values())
    if errors:
        violations.append(f"{errors} errors: {dict(tally.errors)}")
    if tally.completed == 0:
        violations.append("no request completed")
    exit_code = None
    if spawned:
        exit_code = spawned.stop()
        if exit_code != 0:
            violations.append(f"server exited with {exit_code} on SIGTERM")
    elif not pathlib.Path(f"/proc/{pid}").exists():
        violations.append("server process is gone")

    figures = {
        "clients": args.clients, "duration_s": round(load_s, 1), "warmup_s": args.warmup,
        "requests_served": tally.completed, "requests_disconnected": tally.disconnected, "errors": errors,
        "output_tokens": tally.tokens, "output_tok_per_s": round(tally.tokens / load_s, 1),
        "kv_usage_end": m["vllm:kv_cache_usage_perc"], "rss_start_mib": round(rss_start / 1024, 1),
        "rss_peak_mib": round(peak[0] / 1024, 1), "rss_end_mib": round(rss_end / 1024, 1),
        "server_exit_code": exit_code, "total_s": round(time.monotonic() - t0, 1), "violations": violations,
    }
    print(f"clients {args.clients}, load {load_s:.1f}s (after {args.warmup:.0f}s warm-up), "
          f"disconnect fraction {args.disconnect_fraction:.0%}")
    print(f"requests served {tally.completed}, disconnected {tally.disconnected}, errors {errors}, "
          f"output {tally.tokens} tokens ({tally.tokens / load_s:.1f} tok/s)")
    print(f"KV usage once idle {m['vllm:kv_cache_usage_perc']}, running {m['vllm:num_requests_running']:.0f}, "
          f"waiting {m['vllm:num_requests_waiting']:.0f}")
    print(f"RSS start {rss_start / 1024:.1f} MiB, peak {peak[0] / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB "
          f"({(rss_end - rss_start) / rss_start:+.1%})")
    if spawned:
        print(f"server exit code {exit_code}; its log: {spawned.log_path}")
    for example in tally.error_examples:
        print(f"  error {example}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if violations:
        for v in violations:
            print(f"VIOLATION: {v}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
