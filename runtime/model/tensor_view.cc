#include "runtime/model/tensor_view.h"

#include "runtime/model/json_object.h"

namespace mixserve::model {

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string FormatShape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Status TensorError(std::string_view name, const std::string& what) {
  return Status::InvalidArgument("tensor " + MessageSafe(name) + ": " + what);
}

std::vector<float> ToF32(const TensorView& view) {
  std::vector<float> values(view.bytes / DTypeSize(view.dtype));
  ConvertToF32(view.dtype, {view.data, view.bytes}, values);
  return values;
}

}  // namespace mixserve::model
