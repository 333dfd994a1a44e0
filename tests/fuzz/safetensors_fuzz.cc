// libFuzzer target for the safetensors header parser: any byte string must either parse into views
// that lie inside the input without overlapping, or fail with a message; never crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mixserve::model::ParseSafetensors;
  using mixserve::model::TensorView;
  auto header = ParseSafetensors({data, size});
  if (!header.ok()) {
    if (header.status().message().empty()) std::abort();
    return 0;
  }
  const uint8_t* end = data + size;
  const uint8_t* previous_end = data + header->data_offset_bytes;
  for (const TensorView& view : header->tensors) {
    if (view.data < data + header->data_offset_bytes || view.bytes > static_cast<size_t>(end - view.data)) std::abort();
    if (view.bytes != static_cast<size_t>(view.numel()) * mixserve::model::DTypeSize(view.dtype)) std::abort();
    if (view.bytes > 0) {
      if (view.data < previous_end) std::abort();
      previous_end = view.data + view.bytes;
    }
    // Reading every element checks under ASan that the whole view is addressable.
    std::vector<float> values = mixserve::model::ToF32(view);
    if (values.size() != static_cast<size_t>(view.numel())) std::abort();
  }
  return 0;
}
