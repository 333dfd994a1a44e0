#!/usr/bin/env python3
"""Serving benchmark for an OpenAI-compatible server (mixserve serve, vLLM, ...), in the manner of
vLLM's benchmark_serving. Standard library only (http.client, one thread per request in flight), so
it runs on a machine with a bare python3 (the GPU machine has no openai package).

  hack/bench-serve.py --base-url http://127.0.0.1:8000/v1 --model NAME [--num-requests 64]
                      [--concurrency 8 | --request-rate 4] [--prompt-len 256] [--output-len 64]
                      [--range-ratio 0.5] [--shared-prefix-len 0] [--ignore-eos] [--api-key KEY]
                      [--warmup-requests 1] [--warmup-output-len N] [--json out.json]

Prompts are random words from a fixed list (about one token each with a Llama/Mistral tokenizer);
--prompt-len and --output-len are means, drawn uniformly from [len * (1 - r), len * (1 + r)] with
r = --range-ratio. With --shared-prefix-len L every prompt starts with the same L words, the rest
stays random: run once with L = 0 and once with L > 0 at the same --prompt-len to see what the
prefix cache saves in time to first token. Every request streams with usage included, so output
tokens are the server's count; with --ignore-eos and --range-ratio 0 every request generates exactly
--output-len tokens. Requests start at --request-rate per second (Poisson arrivals; default: all at
once) with at most --concurrency in flight. The warm-up requests (not measured) run first, as many at
once as --concurrency allows, so batch shapes the measured run uses are already warm.

Prints TTFT, inter-token latency (ITL: gaps between streamed chunks), time per output token
(TPOT, per request) and end-to-end latency as mean/p50/p90/p99, plus request and output-token
throughput; --json writes the same figures. Exits 1 when a request failed.
"""
import argparse
import concurrent.futures
import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse

WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "government company number group problem fact river stone market garden engine cloud paper north signal "
         "harbor copper lantern meadow orbit pixel thunder velvet bridge canyon delta ember forest island mountain "
         "ocean planet rocket silver table window yellow winter summer spring autumn morning evening").split()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="the API root, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", required=True)
    p.add_argument("--api-key", default="unused")
    p.add_argument("--endpoint", choices=["completions", "chat"], default="completions")
    p.add_argument("--num-requests", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=0, help="most requests in flight (0: no limit)")
    p.add_argument("--request-rate", type=float, default=float("inf"), help="requests per second (Poisson)")
    p.add_argument("--prompt-len", type=int, default=256, help="mean prompt length in words")
    p.add_argument("--output-len", type=int, default=64, help="mean max_tokens")
    p.add_argument("--range-ratio", type=float, default=0.0, help="lengths uniform in len*(1-r)..len*(1+r)")
    p.add_argument("--shared-prefix-len", type=int, default=0, help="words shared by all prompts (inside prompt-len)")
    p.add_argument("--ignore-eos", action="store_true", help="send vLLM's ignore_eos so every output is full length")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--warmup-requests", type=int, default=1, help="sent first, not measured")
    p.add_argument("--warmup-output-len", type=int, default=0, help="max_tokens of the warm-up requests (0: as drawn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    if args.shared_prefix_len >= args.prompt_len * (1 - args.range_ratio):
        p.error("--shared-prefix-len must be shorter than the shortest prompt")
    return args


def draw(rng, mean, ratio):
    return max(1, round(rng.uniform(mean * (1 - ratio), mean * (1 + ratio))))


def make_requests(args):
    rng = random.Random(args.seed)
    prefix = [rng.choice(WORDS) for _ in range(args.shared_prefix_len)]
    out = []
    for i in range(args.num_requests + args.warmup_requests):
        n = draw(rng, args.prompt_len, args.range_ratio)
        # A distinct head right after the shared prefix keeps the unshared part from matching anything cached.
        words = prefix + [f"#{i}"] + [rng.choice(WORDS) for _ in range(n - len(prefix) - 1)]
        out.append((" ".join(words), draw(rng, args.output_len, args.range_ratio)))
    return out


class RequestFailed(Exception):
    pass


def one(args, prompt, max_tokens):
    """One streamed request; returns its timings and token counts."""
    url = urllib.parse.urlsplit(args.base_url.rstrip("/"))
    conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    body = {"model": args.model, "max_tokens": max_tokens, "temperature": args.temperature, "stream": True,
            "stream_options": {"include_usage": True}}
    if args.ignore_eos:
        body["ignore_eos"] = True
    if args.endpoint == "chat":
        path = url.path + "/chat/completions"
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        path = url.path + "/completions"
        body["prompt"] = prompt
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {args.api_key}",
               "Accept": "text/event-stream"}
    conn = conn_cls(url.hostname, url.port, timeout=600)
    arrivals, usage = [], None
    start = time.perf_counter()
    try:
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RequestFailed(f"HTTP {resp.status}: {resp.read()[:200].decode('utf-8', 'replace')}")
        for raw in resp:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            now = time.perf_counter()
            chunk = json.loads(data)
            if "error" in chunk:
                raise RequestFailed(str(chunk["error"])[:200])
            for c in chunk.get("choices") or []:
                text = (c.get("delta") or {}).get("content") if args.endpoint == "chat" else c.get("text")
                if text:
                    arrivals.append(now)
            if chunk.get("usage"):
                usage = chunk["usage"]
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise RequestFailed(f"{type(err).__name__}: {err}"[:200]) from err
    finally:
        conn.close()
    end = time.perf_counter()
    return {"start": start, "end": end, "arrivals": arrivals,
            "prompt_tokens": usage["prompt_tokens"] if usage else 0,
            "output_tokens": usage["completion_tokens"] if usage else len(arrivals)}


def run(args, reqs):
    workers = args.concurrency or len(reqs)
    errors = []
    lock = threading.Lock()

    def guarded(prompt, max_tokens):
        try:
            return one(args, prompt, max_tokens)
        except RequestFailed as err:
            with lock:
                errors.append(str(err))
            return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        warm = [pool.submit(guarded, p, args.warmup_output_len or m) for p, m in reqs[:args.warmup_requests]]
        concurrent.futures.wait(warm)
        if errors:
            return [], errors, 0.0
        rng = random.Random(args.seed + 1)
        futures = []
        t0 = time.perf_counter()
        for prompt, max_tokens in reqs[args.warmup_requests:]:
            futures.append(pool.submit(guarded, prompt, max_tokens))
            if args.request_rate != float("inf"):
                time.sleep(rng.expovariate(args.request_rate))
        results = [f.result() for f in futures]
        duration = time.perf_counter() - t0
    return [r for r in results if r], errors, duration


def summary(values):
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0}
    values = sorted(values)

    def pct(p):
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]
    return {"mean": statistics.fmean(values), "p50": pct(50), "p90": pct(90), "p99": pct(99)}


def main():
    args = parse_args()
    results, errors, duration = run(args, make_requests(args))
    duration = max(duration, 1e-9)
    ttft = [(r["arrivals"][0] - r["start"]) * 1e3 for r in results if r["arrivals"]]
    itl = [(b - a) * 1e3 for r in results for a, b in zip(r["arrivals"], r["arrivals"][1:])]
    tpot = [(r["end"] - r["arrivals"][0]) * 1e3 / (r["output_tokens"] - 1) for r in results
            if r["arrivals"] and r["output_tokens"] > 1]
    e2e = [(r["end"] - r["start"]) * 1e3 for r in results]
    out_tokens = sum(r["output_tokens"] for r in results)
    in_tokens = sum(r["prompt_tokens"] for r in results)
    figures = {
        "model": args.model, "endpoint": args.endpoint, "num_requests": args.num_requests,
        "completed": len(results), "errors": len(errors), "concurrency": args.concurrency,
        "request_rate": None if args.request_rate == float("inf") else args.request_rate,
        "prompt_len": args.prompt_len, "output_len": args.output_len, "range_ratio": args.range_ratio,
        "shared_prefix_len": args.shared_prefix_len, "duration_s": duration,
        "mean_prompt_tokens": in_tokens / max(1, len(results)), "total_output_tokens": out_tokens,
        "request_throughput_per_s": len(results) / duration, "output_tok_per_s": out_tokens / duration,
        "total_tok_per_s": (in_tokens + out_tokens) / duration,
        "ttft_ms": summary(ttft), "itl_ms": summary(itl), "tpot_ms": summary(tpot), "e2e_ms": summary(e2e),
    }
    print(f"requests {len(results)}/{args.num_requests} in {duration:.2f}s, errors {len(errors)}, "
          f"concurrency {args.concurrency or 'unlimited'}, rate {figures['request_rate'] or 'inf'}/s")
    print(f"prompt {figures['mean_prompt_tokens']:.0f} tokens mean (shared prefix {args.shared_prefix_len} words), "
          f"output {out_tokens} tokens")
    print(f"request throughput {figures['request_throughput_per_s']:.2f} req/s, output {figures['output_tok_per_s']:.1f}"
          f" tok/s, total {figures['total_tok_per_s']:.1f} tok/s")
    for name in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        s = figures[name]
        print(f"{name[:-3].upper():5s} ms  mean {s['mean']:8.2f}  p50 {s['p50']:8.2f}  p90 {s['p90']:8.2f}  "
              f"p99 {s['p99']:8.2f}")
    for e in errors[:5]:
        print(f"  error: {e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
