// KernelTimer: a per-kernel time breakdown of forward steps, for performance work only.
//
// With MIXSERVE_KERNEL_TIMES=1 in the environment, CudaModel runs every step eagerly (no CUDA graph)
// and records a CUDA event after each kernel launch; at the end of each step the gaps between
// consecutive events are added up per (rows in the step, kernel name). CudaModel's destructor prints
// the per-step and per-call microseconds of each kernel to stderr, launch gaps included (each event
// ends the PDL overlap, so the sum is a bit above the graph's step time).
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <vector>

namespace mixserve::cuda {

class KernelTimer {
 public:
  // The process's timer, or nullptr when MIXSERVE_KERNEL_TIMES is unset.
  static KernelTimer* Get();

  void BeginStep(cudaStream_t stream, int rows);
  void Mark(const char* name);  // no-op outside a step
  void EndStep();               // synchronizes the stream
  bool active() const { return active_; }
  void Print() const;  // the table, to stderr (CudaModel's destructor calls it)

 private:
  struct Entry {
    double us = 0;
    long calls = 0;
  };
  struct PerRows {
    long steps = 0;
    std::vector<std::string> order;
    std::map<std::string, Entry> by_name;
  };
  cudaEvent_t Event(size_t i);

  bool active_ = false;
  cudaStream_t stream_ = nullptr;
  int rows_ = 0;
  std::vector<cudaEvent_t> events_;
  std::vector<std::string> names_;
  std::map<int, PerRows> stats_;
};

// How many times a step launches the kernel `name` ("norm+qkv+rope", "attention", "o_proj+norm",
// "router", "gate_up", "down" (the skinny MoE's), "lm_head"):
// 1, or 0 where MIXSERVE_SKIP=name[,name...] lists it, or 2 where MIXSERVE_TWICE lists it. Skipping
// makes the output wrong (a second router/attention launch does not). A step's time minus the
// skipped (or plus the doubled) step's time is the kernel's marginal cost inside a graphed,
// PDL-overlapped step, which neither ncu nor the event timer shows. For performance work only.
int LaunchCopies(const char* name);

}  // namespace mixserve::cuda
