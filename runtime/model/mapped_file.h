// A read-only memory map of a whole file.
//
// Weights are read in place from the page cache instead of copied: a Mixtral checkpoint is larger
// than what a process wants to hold twice. Move-only; the mapping lives until the object dies, so
// pointers into bytes() stay valid while it does (moving it does not move the mapping).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::model {

class MappedFile {
 public:
  // Maps `path`; an empty file maps to an empty span. Errors name the path and the reason.
  static Result<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_bytes_}; }
  const std::string& path() const { return path_; }

 private:
  void Unmap();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace mixserve::model
