// Test helpers that write safetensors files byte by byte, valid or deliberately broken, so the
// model tests need no checked-in binaries.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mixserve::model::testing {

struct RawTensor {
  std::string name;
  std::string dtype;  // as safetensors spells it
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian element data
};

inline std::string LittleEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return out;
}

// The 8-byte length, `header_text`, then `data`: lets a test write any header, even an invalid one.
inline std::string FileWithHeader(const std::string& header_text, const std::string& data = "") {
  return LittleEndian64(header_text.size()) + header_text + data;
}

// A well-formed file: tensors laid out back to back in the order given.
inline std::string SafetensorsBytes(const std::vector<RawTensor>& tensors, const nlohmann::json& metadata = nullptr) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::string data;
  for (const RawTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  return FileWithHeader(header.dump(), data);
}

inline std::string F32Bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// 16-bit elements (bf16 or f16) from their raw bit patterns.
inline std::string Bits16Bytes(const std::vector<uint16_t>& bits) {
  std::string out;
  for (uint16_t b : bits) {
    out += static_cast<char>(b & 0xFF);
    out += static_cast<char>(b >> 8);
  }
  return out;
}

inline void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mixserve-model-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace mixserve::model::testing
