// Element types of model weights, and their conversion to fp32.
//
// Checkpoints store weights as bf16, fp16 or fp32; the CPU backend computes in fp32, so every
// weight it reads passes through ConvertToF32. Names follow safetensors ("BF16", "F16", "F32");
// config.json spells the same types the way torch does ("bfloat16", "float16", "float32").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "runtime/base/status.h"

namespace mixserve::model {

enum class DType { kBF16, kF16, kF32 };

// Bytes one element occupies: 2, 2 or 4.
size_t DTypeSize(DType dtype);

// The safetensors spelling: "BF16", "F16", "F32".
const char* DTypeName(DType dtype);

// Parses a safetensors dtype string; anything but BF16/F16/F32 is InvalidArgument naming it.
Result<DType> ParseSafetensorsDType(std::string_view name);

// Parses a torch dtype name as config.json writes it ("bfloat16", "float16", "float32").
Result<DType> ParseTorchDType(std::string_view name);

// Exact conversions of one element given as its raw bits (subnormals, infinities and NaN kept).
float Bf16BitsToF32(uint16_t bits);
float F16BitsToF32(uint16_t bits);

// Converts `src` (little-endian elements of `dtype`, any alignment) to fp32.
// REQUIRES: src.size() == dst.size() * DTypeSize(dtype).
void ConvertToF32(DType dtype, std::span<const uint8_t> src, std::span<float> dst);

}  // namespace mixserve::model
