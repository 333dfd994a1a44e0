#!/usr/bin/env python3
"""Times the prefill MoE expert GEMMs three ways on the GPU machine, for runtime/PERF.md §6.

Mixtral-8x7B shapes (H = 4096, I = 14336, 8 experts, top-2) for a prompt of T tokens routed at random:
expert e gets M_e rows. Each projection (gate_up: N = 2I, K = H; down: N = H, K = I) runs as
  per-expert  8 GEMMs one after another (torch.matmul: cuBLASLt, what mixserve's grouped path does),
  grouped     one cublasGemmGroupedBatchedEx call over the 8 problems (ctypes into libcublas),
  torch-gmm   torch._grouped_mm over the rows sorted by expert (where this torch has it),
and prints ms and TFLOP/s per way. bf16 in and out, fp32 accumulation.
--padded R,...: the decode batch's padded expert GEMMs instead (every expert's weights times R rows,
one strided-batched GEMM per projection, as CudaModel's padded path runs for 17-64 rows): ms and the
weight bytes' TB/s, against the copy bandwidth torch measures.

  python3 hack/gpu/moe_gemm_probe.py [--tokens 1024,4096] [--iters 20] [--padded 16,32,64]
"""
import argparse
import ctypes
import glob
import os
import site

import torch

E, TOPK, H, I = 8, 2, 4096, 14336
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUDA_R_16BF = 14
CUBLAS_COMPUTE_32F = 68


def load_cublas():
    for base in site.getsitepackages():
        for path in glob.glob(os.path.join(base, "nvidia", "cu13", "lib", "libcublas.so.*")):
            return ctypes.CDLL(path)
    return ctypes.CDLL("libcublas.so.13")


def time_ms(fn, iters):
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="1024,4096")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--padded", default="")
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.padded:
        return padded(args)
    lib = load_cublas()
    handle = ctypes.c_void_p()
    assert lib.cublasCreate_v2(ctypes.byref(handle)) == 0, "cublasCreate failed"
    stream = torch.cuda.current_stream().cuda_stream
    assert lib.cublasSetStream_v2(handle, ctypes.c_void_p(stream)) == 0
    print(f"{torch.cuda.get_device_name()}: torch {torch.__version__}")
    print(f"{'tokens':>6} {'proj':<8} {'rows per expert':<34} {'way':<11} {'ms':>8} {'TFLOP/s':>8}")
    for T in (int(t) for t in args.tokens.split(",")):
        experts = torch.stack([torch.randperm(E)[:TOPK] for _ in range(T)]).flatten()
        rows = torch.bincount(experts, minlength=E).tolist()
        for proj, N, K in (("gate_up", 2 * I, H), ("down", H, I)):
            w = torch.randn(E, N, K, device="cuda", dtype=torch.bfloat16) * 0.02
            x = [torch.randn(m, K, device="cuda", dtype=torch.bfloat16) for m in rows]
            out = [torch.empty(m, N, device="cuda", dtype=torch.bfloat16) for m in rows]
            flop = 2.0 * sum(rows) * N * K

            def per_expert():
                for e in range(E):
                    torch.matmul(x[e], w[e].t(), out=out[e])

            # Column-major view: C^T (N x M) = W (K x N col-major, transposed) . X^T (K x M col-major).
            n_groups = E
            ia = lambda vals: (ctypes.c_int * n_groups)(*vals)
            transa, transb = ia([CUBLAS_OP_T] * E), ia([CUBLAS_OP_N] * E)
            m_arr, n_arr, k_arr = ia([N] * E), ia(rows), ia([K] * E)
            lda, ldb, ldc = ia([K] * E), ia([K] * E), ia([N] * E)
            alpha = (ctypes.c_float * E)(*([1.0] * E))
            beta = (ctypes.c_float * E)(*([0.0] * E))
            sizes = ia([1] * E)
            a_ptrs = torch.tensor([w[e].data_ptr() for e in range(E)], dtype=torch.int64, device="cuda")
            b_ptrs = torch.tensor([x[e].data_ptr() for e in range(E)], dtype=torch.int64, device="cuda")
            c_ptrs = torch.tensor([out[e].data_ptr() for e in range(E)], dtype=torch.int64, device="cuda")

            def grouped():
                st = lib.cublasGemmGroupedBatchedEx(
                    handle, transa, transb, m_arr, n_arr, k_arr, alpha, ctypes.c_void_p(a_ptrs.data_ptr()),
                    CUDA_R_16BF, lda, ctypes.c_void_p(b_ptrs.data_ptr()), CUDA_R_16BF, ldb, beta,
                    ctypes.c_void_p(c_ptrs.data_ptr()), CUDA_R_16BF, ldc, n_groups, sizes, CUBLAS_COMPUTE_32F)
                if st != 0:
                    raise RuntimeError(f"cublasGemmGroupedBatchedEx: status {st}")

            per_expert()
            ref = [o.clone() for o in out]
            grouped()
            torch.cuda.synchronize()
            err = max(((o.float() - r.float()).abs().max() / (r.float().abs().max() + 1e-6)).item()
                      for o, r in zip(out, ref))
            ways = [("per-expert", per_expert), ("grouped", grouped)]
            if hasattr(torch, "_grouped_mm"):
                xs = torch.cat(x)
                wt = w.transpose(1, 2)  # (E, K, N) view
                offs = torch.tensor(rows, device="cuda", dtype=torch.int32).cumsum(0, dtype=torch.int32)
                ways.append(("torch-gmm", lambda: torch._grouped_mm(xs, wt, offs=offs, out_dtype=torch.bfloat16)))
            for name, fn in ways:
                try:
                    ms = time_ms(fn, args.iters)
                    note = f"  (max rel diff vs per-expert {err:.1e})" if name == "grouped" else ""
                    print(f"{T:>6} {proj:<8} {str(rows):<34} {name:<11} {ms:8.3f} {flop / ms / 1e9:8.1f}{note}")
                except Exception as ex:  # noqa: BLE001 - report and go on
                    print(f"{T:>6} {proj:<8} {str(rows):<34} {name:<11} failed: {str(ex)[:80]}")
            del w, x, out
            torch.cuda.empty_cache()


def padded(args):
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    copy_ms = time_ms(lambda: dst.copy_(src), args.iters)
    copy_tbs = 2 * src.numel() / copy_ms / 1e9
    del src, dst
    print(f"{torch.cuda.get_device_name()}: torch {torch.__version__}, copy {copy_tbs:.2f} TB/s")
    print(f"{'rows':>5} {'proj':<8} {'ms':>8} {'TB/s':>7} {'of copy':>8}")
    for R in (int(r) for r in args.padded.split(",")):
        for proj, N, K in (("gate_up", 2 * I, H), ("down", H, I)):
            w = torch.randn(E, N, K, device="cuda", dtype=torch.bfloat16) * 0.02
            x = torch.randn(E, R, K, device="cuda", dtype=torch.bfloat16)
            out = torch.empty(E, R, N, device="cuda", dtype=torch.bfloat16)
            ms = time_ms(lambda: torch.bmm(x, w.transpose(1, 2), out=out), args.iters)
            tbs = w.numel() * 2 / ms / 1e9
            print(f"{R:>5} {proj:<8} {ms:8.3f} {tbs:7.2f} {tbs / copy_tbs:8.1%}")
            del w, x, out
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
