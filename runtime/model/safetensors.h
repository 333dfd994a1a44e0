// Reading safetensors files: the header that describes the tensors, and a mapped file that serves
// TensorViews of them.
//
// Layout of a file: 8 bytes little-endian header length N, N bytes of a JSON object, then the data
// section. Each JSON key names a tensor whose value is {"dtype", "shape", "data_offsets": [begin,
// end]} with offsets relative to the data section; the optional "__metadata__" key maps strings to
// strings. Anything malformed is an InvalidArgument naming what is wrong (and the tensor, when
// there is one), never a crash: these files come from the network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/mapped_file.h"
#include "runtime/model/tensor_view.h"

namespace mixserve::model {

// Headers are a few hundred KB even for the largest checkpoints; anything bigger is corrupt.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = uint64_t{100} << 20;

struct SafetensorsHeader {
  std::vector<TensorView> tensors;              // sorted by position in the data section
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
  size_t data_offset_bytes = 0;                 // where the data section starts: 8 + N
};

// Parses and checks a whole safetensors image; the views point into `file_bytes`.
Result<SafetensorsHeader> ParseSafetensors(std::span<const uint8_t> file_bytes);

// One memory-mapped safetensors file. Move-only; views stay valid while it lives.
class SafetensorsFile {
 public:
  // Errors start with the path.
  static Result<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::vector<TensorView>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  // The tensor called `name`, or nullptr.
  const TensorView* Find(std::string_view name) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_by_name_;
};

}  // namespace mixserve::model
