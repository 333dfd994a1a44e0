// TensorView: one weight tensor as stored in a checkpoint, without owning its bytes.
//
// The bytes live in a memory-mapped safetensors file (see SafetensorsFile and ModelWeights); a view
// is valid as long as the object that mapped them. Elements are little-endian, row-major (the last
// dimension is contiguous), with no alignment promised: read them through ToF32 or memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/dtype.h"

namespace mixserve::model {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // empty for a scalar
  const uint8_t* data = nullptr;
  size_t bytes = 0;  // == numel() * DTypeSize(dtype)

  int64_t numel() const;
};

// "[8, 64]"; "[]" for a scalar.
std::string FormatShape(const std::vector<int64_t>& shape);

// InvalidArgument "tensor <name>: <what>", the name made safe for a one-line message.
Status TensorError(std::string_view name, const std::string& what);

// The view's elements converted to fp32, in storage order.
std::vector<float> ToF32(const TensorView& view);

}  // namespace mixserve::model
