#!/usr/bin/env python3
"""Measures the two ceilings of the GPU it runs on, through PyTorch: device-to-device copy bandwidth
(bytes read + bytes written per second, 4 GiB buffers) and the bf16 matrix rate (8192^3 product on
random data). Median of --reps timed runs after warm-up, CUDA events. Prints one JSON line:
  {"gpu": ..., "copy_gbps": ..., "bf16_tflops": ...}
"""
import argparse
import json
import statistics
import sys

import torch


def timed(fn, reps):
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1000.0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("ceilings: no GPU visible to torch")
    n = 4 << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    copy_s = timed(lambda: dst.copy_(src), args.reps)
    del src, dst
    m = 8192
    a = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    gemm_s = timed(lambda: a @ b, args.reps)
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "copy_gbps": round(2 * n / copy_s / 1e9, 1),
                      "bf16_tflops": round(2 * m ** 3 / gemm_s / 1e12, 1)}), flush=True)


if __name__ == "__main__":
    main()
