// ParallelFor: splits [0, n) into contiguous chunks run on a small persistent pool of threads.
//
// The CPU backend's only concurrency primitive. Work items must be independent; the call returns
// when every chunk has finished. With one hardware thread (or n small) it runs inline.
#pragma once

#include <cstdint>
#include <functional>

namespace mixserve::cpu {

// Calls fn(begin, end) on disjoint chunks covering [0, n). `min_chunk` keeps tiny loops inline.
void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t min_chunk = 1);

// Number of threads ParallelFor uses (MIXSERVE_CPU_THREADS, else hardware concurrency).
int CpuThreads();

}  // namespace mixserve::cpu
