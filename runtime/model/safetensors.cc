#include "runtime/model/safetensors.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>

#include "runtime/model/json_object.h"

namespace mixserve::model {
namespace {

using nlohmann::json;

constexpr size_t kHeaderLengthBytes = 8;

// A tensor's position in the data section, kept beside its view while checking overlaps.
struct Extent {
  uint64_t begin = 0;
  uint64_t end = 0;
};

std::string FormatExtent(const Extent& extent) {
  return "[" + std::to_string(extent.begin) + ", " + std::to_string(extent.end) + "]";
}

// A JSON value as a non-negative integer, or nullopt for negatives, fractions and non-numbers.
std::optional<uint64_t> AsUnsigned(const json& value) {
  if (!value.is_number_unsigned()) return std::nullopt;
  return value.get<uint64_t>();
}

Result<DType> ParseDType(const std::string& name, const json& entry) {
  auto it = entry.find("dtype");
  if (it == entry.end()) return TensorError(name, "missing \"dtype\"");
  if (!it->is_string()) return TensorError(name, std::string("dtype must be a string, got ") + JsonKindName(*it));
  auto dtype = ParseSafetensorsDType(it->get<std::string>());
  if (!dtype.ok()) return TensorError(name, dtype.status().message());
  return dtype;
}

Result<std::vector<int64_t>> ParseShape(const std::string& name, const json& entry) {
  auto it = entry.find("shape");
  if (it == entry.end()) return TensorError(name, "missing \"shape\"");
  if (!it->is_array()) return TensorError(name, std::string("shape must be an array, got ") + JsonKindName(*it));
  std::vector<int64_t> shape;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& dim = (*it)[i];
    const std::string where = "shape[" + std::to_string(i) + "]";
    auto value = AsUnsigned(dim);
    if (!value) return TensorError(name, where + " is " + DescribeJson(dim) + ", want a non-negative integer");
    if (*value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TensorError(name, where + " = " + std::to_string(*value) + " overflows int64");
    }
    shape.push_back(static_cast<int64_t>(*value));
  }
  return shape;
}

// Bytes that `shape` of `dtype` occupies, or an error when that does not fit in 64 bits.
Result<uint64_t> ShapeBytes(const std::string& name, const std::vector<int64_t>& shape, DType dtype) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return uint64_t{0};
  uint64_t bytes = DTypeSize(dtype);
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) {
      return TensorError(name,
                         "shape " + FormatShape(shape) + " of " + DTypeName(dtype) + " overflows 64-bit byte counts");
    }
  }
  return bytes;
}

Result<Extent> ParseDataOffsets(const std::string& name, const json& entry) {
  auto it = entry.find("data_offsets");
  if (it == entry.end()) return TensorError(name, "missing \"data_offsets\"");
  std::optional<uint64_t> begin, end;
  if (it->is_array() && it->size() == 2) {
    begin = AsUnsigned((*it)[0]);
    end = AsUnsigned((*it)[1]);
  }
  if (!begin || !end) return TensorError(name, "data_offsets must be [begin, end], two non-negative integers");
  if (*begin > *end) {
    return TensorError(name, "data_offsets " + FormatExtent({*begin, *end}) + " end before they begin");
  }
  return Extent{*begin, *end};
}

Status ParseMetadata(const json& value, std::map<std::string, std::string>& metadata) {
  if (!value.is_object()) {
    return Status::InvalidArgument(std::string("__metadata__ must be an object, got ") + JsonKindName(value));
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      return Status::InvalidArgument("__metadata__." + MessageSafe(key) + " must be a string, got " +
                                     JsonKindName(item));
    }
    metadata[key] = item.get<std::string>();
  }
  return Status::Ok();
}

// Checks one header entry against the data section and returns its view and position.
Result<std::pair<Extent, TensorView>> ParseTensor(const std::string& name, const json& entry,
                                                  std::span<const uint8_t> data_section) {
  if (name.empty()) return Status::InvalidArgument("a tensor has an empty name");
  if (!entry.is_object()) return TensorError(name, std::string("entry must be an object, got ") + JsonKindName(entry));
  auto dtype = ParseDType(name, entry);
  if (!dtype.ok()) return dtype.status();
  auto shape = ParseShape(name, entry);
  if (!shape.ok()) return shape.status();
  auto needed_bytes = ShapeBytes(name, *shape, *dtype);
  if (!needed_bytes.ok()) return needed_bytes.status();
  auto extent = ParseDataOffsets(name, entry);
  if (!extent.ok()) return extent.status();
  if (extent->end > data_section.size()) {
    return TensorError(name, "data_offsets " + FormatExtent(*extent) + " run past the end of the data section (" +
                                 std::to_string(data_section.size()) + " bytes)");
  }
  const uint64_t held_bytes = extent->end - extent->begin;
  if (held_bytes != *needed_bytes) {
    return TensorError(name, "data_offsets " + FormatExtent(*extent) + " hold " + std::to_string(held_bytes) +
                                 " bytes, but shape " + FormatShape(*shape) + " of " + DTypeName(*dtype) + " needs " +
                                 std::to_string(*needed_bytes));
  }
  TensorView view{name, *dtype, std::move(shape).value(), data_section.data() + extent->begin, held_bytes};
  return std::make_pair(*extent, std::move(view));
}

}  // namespace

Result<SafetensorsHeader> ParseSafetensors(std::span<const uint8_t> file_bytes) {
  if (file_bytes.size() < kHeaderLengthBytes) {
    return Status::InvalidArgument("file is " + std::to_string(file_bytes.size()) +
                                   " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes = 0;
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) header_bytes |= static_cast<uint64_t>(file_bytes[i]) << (8 * i);
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return Status::InvalidArgument("header length " + std::to_string(header_bytes) + " is over the limit of " +
                                   std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  }
  const size_t bytes_after_length = file_bytes.size() - kHeaderLengthBytes;
  if (header_bytes > bytes_after_length) {
    return Status::InvalidArgument("header length " + std::to_string(header_bytes) +
                                   " runs past the end of the file (" + std::to_string(bytes_after_length) +
                                   " bytes follow the length)");
  }
  std::string_view header_text(reinterpret_cast<const char*>(file_bytes.data() + kHeaderLengthBytes), header_bytes);
  auto header_json = ParseJsonObject(header_text);
  if (!header_json.ok()) return header_json.status().WithContext("header");

  SafetensorsHeader header;
  header.data_offset_bytes = kHeaderLengthBytes + header_bytes;
  const std::span<const uint8_t> data_section = file_bytes.subspan(header.data_offset_bytes);
  std::vector<std::pair<Extent, TensorView>> placed;
  for (const auto& [name, entry] : header_json->items()) {
    if (name == "__metadata__") {
      if (Status s = ParseMetadata(entry, header.metadata); !s.ok()) return s;
      continue;
    }
    auto tensor = ParseTensor(name, entry, data_section);
    if (!tensor.ok()) return tensor.status();
    placed.push_back(std::move(tensor).value());
  }

  std::sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.begin, a.first.end, a.second.name) < std::tie(b.first.begin, b.first.end, b.second.name);
  });
  // Sorted by start, each non-empty tensor must start at or after the end of the one before it
  // (which, with no overlap so far, is also the furthest end). Empty tensors occupy no bytes.
  const std::pair<Extent, TensorView>* previous = nullptr;
  for (const auto& item : placed) {
    if (item.first.begin == item.first.end) continue;
    if (previous != nullptr && item.first.begin < previous->first.end) {
      return Status::InvalidArgument("tensors " + MessageSafe(previous->second.name) + " and " +
                                     MessageSafe(item.second.name) + " overlap (data_offsets " +
                                     FormatExtent(previous->first) + " and " + FormatExtent(item.first) + ")");
    }
    previous = &item;
  }
  header.tensors.reserve(placed.size());
  for (auto& item : placed) header.tensors.push_back(std::move(item.second));
  return header;
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  auto header = ParseSafetensors(mapped->bytes());
  if (!header.ok()) return header.status().WithContext(path);
  SafetensorsFile file;
  file.file_ = std::move(mapped).value();
  file.header_ = std::move(header).value();
  for (size_t i = 0; i < file.header_.tensors.size(); ++i) file.index_by_name_[file.header_.tensors[i].name] = i;
  return file;
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_by_name_.find(name);
  return it == index_by_name_.end() ? nullptr : &header_.tensors[it->second];
}

}  // namespace mixserve::model
