// Helpers shared by the GPU kernel tests in tests/gpu/cuda: a device buffer that uploads a host
// vector and copies itself back, random inputs, bf16 rounding, the error measure every kernel test
// compares with, and a fixture that skips when there is no GPU. Header-only: each test binary is
// one source file.
#ifndef MIXSERVE_TESTS_GPU_CUDA_CUDA_TEST_UTIL_H_
#define MIXSERVE_TESTS_GPU_CUDA_CUDA_TEST_UTIL_H_

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend/cuda/kernels.h"
#include "runtime/backend/cuda/smoke.h"

namespace mixserve::cuda::test_util {

// A device buffer of n elements of T: a copy of a host vector, or n poisoned elements (all bits
// set: NaN for floats, so an element a kernel forgot to write fails the comparison). Get() copies
// it back. Errors are left to the launches and synchronisations the tests check.
template <typename T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& h) : n_(h.size()) {
    cudaMalloc(&p_, std::max<size_t>(1, n_) * sizeof(T));
    Put(h);
  }
  explicit Dev(size_t n) : n_(n) {
    cudaMalloc(&p_, std::max<size_t>(1, n_) * sizeof(T));
    Poison();
  }
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;

  T* get() { return p_; }
  // Overwrites the first min(n, h.size()) elements with h.
  void Put(const std::vector<T>& h) {
    cudaMemcpy(p_, h.data(), std::min(n_, h.size()) * sizeof(T), cudaMemcpyHostToDevice);
  }
  void Poison() { cudaMemset(p_, 0xff, n_ * sizeof(T)); }
  std::vector<T> Get() const {
    std::vector<T> h(n_);
    cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// f rounded to the nearest bf16.
inline float Bf(float f) { return __bfloat162float(__float2bfloat16(f)); }

// n draws from N(0, scale^2).
inline std::vector<float> Rand(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}
// n draws from N(0, scale^2), each rounded to bf16.
inline std::vector<float> RandBf(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = Bf(d(rng));
  return v;
}
inline std::vector<bf16> ToBf(const std::vector<float>& v) {
  std::vector<bf16> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = __float2bfloat16(v[i]);
  return o;
}
inline std::vector<float> FromBf(const std::vector<bf16>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = __bfloat162float(v[i]);
  return o;
}
inline std::vector<float> RoundBf(std::vector<float> v) {
  for (float& x : v) x = Bf(x);
  return v;
}

// y (M, N) = x (M, K) . W (N, K)^T accumulated in double (row m of y depends on row m of x only).
inline std::vector<float> RefGemm(const std::vector<float>& x, const std::vector<float>& w, int M, int N, int K) {
  std::vector<float> y(static_cast<size_t>(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += static_cast<double>(x[static_cast<size_t>(m) * K + k]) * w[static_cast<size_t>(n) * K + k];
      y[static_cast<size_t>(m) * N + n] = static_cast<float>(s);
    }
  return y;
}

// Worst |a - b| / (1 + |b|); NaN, or a size mismatch (also a test failure), counts as infinitely bad.
inline double Err(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::abs(b[i]));
    if (std::isnan(e)) return INFINITY;
    worst = std::max(worst, e);
  }
  return a.size() == b.size() ? worst : INFINITY;
}

// The gtest parameter name of a tiny model's directory: "tiny-mixtral" -> "tiny_mixtral".
inline std::string ModelParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// A fixture whose tests are skipped ("skipped: no GPU") on a machine without a CUDA GPU. A test
// class that overrides SetUp must call GpuTest::SetUp() first and return if IsSkipped().
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DeviceCount() == 0) GTEST_SKIP() << "skipped: no GPU";
  }
};

}  // namespace mixserve::cuda::test_util

#endif  // MIXSERVE_TESTS_GPU_CUDA_CUDA_TEST_UTIL_H_
