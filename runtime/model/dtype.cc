#include "runtime/model/dtype.h"

#include <bit>
#include <cassert>
#include <cstring>

namespace mixserve::model {

// safetensors stores elements little-endian; the fp32 path copies them as they are.
static_assert(std::endian::native == std::endian::little, "weights are read on little-endian hosts only");

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBF16:
    case DType::kF16:
      return 2;
    case DType::kF32:
      return 4;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBF16:
      return "BF16";
    case DType::kF16:
      return "F16";
    case DType::kF32:
      return "F32";
  }
  return "?";
}

Result<DType> ParseSafetensorsDType(std::string_view name) {
  if (name == "BF16") return DType::kBF16;
  if (name == "F16") return DType::kF16;
  if (name == "F32") return DType::kF32;
  return Status::InvalidArgument("unsupported dtype " + std::string(name) + " (supported: BF16, F16, F32)");
}

Result<DType> ParseTorchDType(std::string_view name) {
  if (name == "bfloat16") return DType::kBF16;
  if (name == "float16") return DType::kF16;
  if (name == "float32") return DType::kF32;
  return Status::InvalidArgument("unsupported torch dtype " + std::string(name) +
                                 " (supported: bfloat16, float16, float32)");
}

float Bf16BitsToF32(uint16_t bits) {
  // bf16 is the top half of an fp32, so widening is a shift for every value, NaN included.
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

float F16BitsToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) {
    // Infinity or NaN: all-ones fp32 exponent, the NaN payload moved to the top of the mantissa.
    return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal fp16 (value mantissa * 2^-24) is a normal fp32: shift the leading one into the
    // implicit bit and lower the exponent once per shift.
    int32_t fp32_exponent = 127 - 15 + 1;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --fp32_exponent;
    }
    mantissa &= 0x3FFu;
    return std::bit_cast<float>(sign | (static_cast<uint32_t>(fp32_exponent) << 23) | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

void ConvertToF32(DType dtype, std::span<const uint8_t> src, std::span<float> dst) {
  assert(src.size() == dst.size() * DTypeSize(dtype));
  const uint8_t* p = src.data();
  switch (dtype) {
    case DType::kF32:
      if (!dst.empty()) std::memcpy(dst.data(), p, dst.size() * sizeof(float));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < dst.size(); ++i, p += 2) {
        dst[i] = Bf16BitsToF32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < dst.size(); ++i, p += 2) {
        dst[i] = F16BitsToF32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      }
      return;
  }
}

}  // namespace mixserve::model
