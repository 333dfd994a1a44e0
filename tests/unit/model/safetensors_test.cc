#include "runtime/model/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/unit/model/safetensors_writer.h"

namespace mixserve::model {
namespace {

using testing::Bits16Bytes;
using testing::F32Bytes;
using testing::FileWithHeader;
using testing::LittleEndian64;
using testing::RawTensor;
using testing::SafetensorsBytes;

std::span<const uint8_t> Span(const std::string& bytes) {
  return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}

// Parses `bytes`, expects failure, and returns the message.
std::string ParseError(const std::string& bytes) {
  auto header = ParseSafetensors(Span(bytes));
  EXPECT_FALSE(header.ok()) << "parsed although malformed";
  return header.ok() ? std::string() : header.status().message();
}

std::string OneTensorHeader(const std::string& entry) { return "{\"w\": " + entry + "}"; }

TEST(Safetensors, ParsesTensorsAndMetadata) {
  // bf16 1.0, -2.0, 0.5 and 3.0; f32 [4] of known values.
  std::string file = SafetensorsBytes(
      {RawTensor{"layer.bf16", "BF16", {2, 2}, Bits16Bytes({0x3F80, 0xC000, 0x3F00, 0x4040})},
       RawTensor{"layer.f32", "F32", {4}, F32Bytes({1.5f, -0.25f, 1e-3f, 65504.f})}},
      {{"format", "pt"}});
  auto header = ParseSafetensors(Span(file));
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->metadata.at("format"), "pt");
  ASSERT_EQ(header->tensors.size(), 2u);

  const TensorView& bf16 = header->tensors[0];
  EXPECT_EQ(bf16.name, "layer.bf16");
  EXPECT_EQ(bf16.dtype, DType::kBF16);
  EXPECT_EQ(bf16.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(bf16.bytes, 8u);
  EXPECT_EQ(bf16.numel(), 4);
  EXPECT_EQ(bf16.data, Span(file).data() + header->data_offset_bytes);
  EXPECT_EQ(ToF32(bf16), (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}));

  const TensorView& f32 = header->tensors[1];
  EXPECT_EQ(f32.dtype, DType::kF32);
  EXPECT_EQ(f32.data, bf16.data + 8);
  EXPECT_EQ(ToF32(f32), (std::vector<float>{1.5f, -0.25f, 1e-3f, 65504.f}));
}

TEST(Safetensors, ScalarsEmptyTensorsAndEmptyHeader) {
  std::string file = SafetensorsBytes({RawTensor{"scalar", "F16", {}, Bits16Bytes({0x3C00})},
                                       RawTensor{"empty", "F32", {0, 4}, ""}});
  auto header = ParseSafetensors(Span(file));
  ASSERT_TRUE(header.ok()) << header.status().message();
  ASSERT_EQ(header->tensors.size(), 2u);
  for (const TensorView& view : header->tensors) {
    if (view.name == "scalar") {
      EXPECT_TRUE(view.shape.empty());
      EXPECT_EQ(view.numel(), 1);
      EXPECT_EQ(ToF32(view), std::vector<float>{1.0f});
    } else {
      EXPECT_EQ(view.numel(), 0);
      EXPECT_EQ(view.bytes, 0u);
      EXPECT_TRUE(ToF32(view).empty());
    }
  }
  auto empty = ParseSafetensors(Span(FileWithHeader("{}")));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->tensors.empty());
}

TEST(Safetensors, RejectsFilesTooShortForTheLength) {
  EXPECT_EQ(ParseError(""), "file is 0 bytes, too short for the 8-byte header length");
  EXPECT_EQ(ParseError(std::string("\x02\x00\x00", 3)), "file is 3 bytes, too short for the 8-byte header length");
}

TEST(Safetensors, RejectsHeaderLengthPastEndOfFile) {
  EXPECT_EQ(ParseError(LittleEndian64(100) + "{}"), "header length 100 runs past the end of the file (2 bytes follow the length)");
}

TEST(Safetensors, RejectsAbsurdHeaderLength) {
  EXPECT_EQ(ParseError(LittleEndian64(~uint64_t{0}) + "{}"),
            "header length 18446744073709551615 is over the limit of 104857600 bytes");
  EXPECT_NE(ParseError(LittleEndian64(kMaxSafetensorsHeaderBytes + 1) + "{}").find("is over the limit"), std::string::npos);
}

TEST(Safetensors, RejectsHeaderThatIsNotAJsonObject) {
  EXPECT_NE(ParseError(FileWithHeader("{\"w\": ")).find("header: not valid JSON"), std::string::npos);
  EXPECT_NE(ParseError(FileWithHeader("\xff\xfe")).find("header: not valid JSON"), std::string::npos);
  EXPECT_EQ(ParseError(FileWithHeader("[1, 2]")), "header: expected a JSON object, got array");
  EXPECT_EQ(ParseError(FileWithHeader("\"text\"")), "header: expected a JSON object, got string");
}

TEST(Safetensors, RejectsDuplicateTensorNames) {
  std::string entry = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  EXPECT_EQ(ParseError(FileWithHeader("{\"w\": " + entry + ", \"w\": " + entry + "}", F32Bytes({1}))),
            "header: duplicate key \"w\"");
}

TEST(Safetensors, RejectsUnsupportedDtypesNamingTheTensor) {
  for (const char* dtype : {"I32", "F64", "U8", "BOOL", "F8_E4M3"}) {
    std::string entry = std::string(R"({"dtype": ")") + dtype + R"(", "shape": [1], "data_offsets": [0, 4]})";
    EXPECT_EQ(ParseError(FileWithHeader(OneTensorHeader(entry), F32Bytes({1}))),
              std::string("tensor w: unsupported dtype ") + dtype + " (supported: BF16, F16, F32)");
  }
}

TEST(Safetensors, RejectsMissingOrMistypedEntryFields) {
  auto error = [](const std::string& entry) { return ParseError(FileWithHeader(OneTensorHeader(entry), F32Bytes({1}))); };
  EXPECT_EQ(error(R"([1])"), "tensor w: entry must be an object, got array");
  EXPECT_EQ(error(R"({"shape": [1], "data_offsets": [0, 4]})"), "tensor w: missing \"dtype\"");
  EXPECT_EQ(error(R"({"dtype": 1, "shape": [1], "data_offsets": [0, 4]})"), "tensor w: dtype must be a string, got integer");
  EXPECT_EQ(error(R"({"dtype": "F32", "data_offsets": [0, 4]})"), "tensor w: missing \"shape\"");
  EXPECT_EQ(error(R"({"dtype": "F32", "shape": 1, "data_offsets": [0, 4]})"), "tensor w: shape must be an array, got integer");
  EXPECT_EQ(error(R"({"dtype": "F32", "shape": [1]})"), "tensor w: missing \"data_offsets\"");
  for (const char* offsets : {"[0]", "[0, 4, 8]", "[-1, 4]", "[0, 4.5]", "\"0-4\""}) {
    EXPECT_EQ(error(std::string(R"({"dtype": "F32", "shape": [1], "data_offsets": )") + offsets + "}"),
              "tensor w: data_offsets must be [begin, end], two non-negative integers")
        << offsets;
  }
  EXPECT_EQ(error(R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]})"),
            "tensor w: data_offsets [4, 0] end before they begin");
  EXPECT_EQ(ParseError(FileWithHeader(R"({"": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", F32Bytes({1}))),
            "a tensor has an empty name");
}

TEST(Safetensors, RejectsBadShapes) {
  auto error = [](const std::string& shape) {
    return ParseError(FileWithHeader(
        OneTensorHeader(R"({"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 4]})"), F32Bytes({1})));
  };
  EXPECT_EQ(error("[2, -3]"), "tensor w: shape[1] is -3, want a non-negative integer");
  EXPECT_EQ(error("[2.5]"), "tensor w: shape[0] is 2.5, want a non-negative integer");
  EXPECT_EQ(error("[\"4\"]"), "tensor w: shape[0] is \"4\", want a non-negative integer");
  EXPECT_EQ(error("[[1]]"), "tensor w: shape[0] is array, want a non-negative integer");
  EXPECT_EQ(error("[1e30]"), "tensor w: shape[0] is 1e+30, want a non-negative integer");
  EXPECT_EQ(error("[9223372036854775808]"), "tensor w: shape[0] = 9223372036854775808 overflows int64");
  EXPECT_EQ(error("[4294967296, 4294967296]"),
            "tensor w: shape [4294967296, 4294967296] of F32 overflows 64-bit byte counts");
  // A zero dimension makes the tensor empty however large the others are.
  EXPECT_EQ(error("[0, 9223372036854775807, 9223372036854775807]"),
            "tensor w: data_offsets [0, 4] hold 4 bytes, but shape [0, 9223372036854775807, 9223372036854775807] of F32 "
            "needs 0");
}

TEST(Safetensors, RejectsOffsetsThatDoNotMatchTheShape) {
  std::string header = OneTensorHeader(R"({"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 4]})");
  EXPECT_EQ(ParseError(FileWithHeader(header, std::string(16, '\0'))),
            "tensor w: data_offsets [0, 4] hold 4 bytes, but shape [2, 3] of BF16 needs 12");
}

TEST(Safetensors, RejectsOffsetsPastTheDataSection) {
  std::string header = OneTensorHeader(R"({"dtype": "F32", "shape": [2], "data_offsets": [4, 12]})");
  EXPECT_EQ(ParseError(FileWithHeader(header, F32Bytes({1, 2}))),
            "tensor w: data_offsets [4, 12] run past the end of the data section (8 bytes)");
  std::string huge = OneTensorHeader(R"({"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 18446744073709551615]})");
  EXPECT_NE(ParseError(FileWithHeader(huge, F32Bytes({1}))).find("run past the end of the data section"), std::string::npos);
}

TEST(Safetensors, RejectsOverlappingTensors) {
  std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  EXPECT_EQ(ParseError(FileWithHeader(header, F32Bytes({1, 2, 3}))),
            "tensors a and b overlap (data_offsets [0, 8] and [4, 12])");
  std::string same = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  EXPECT_EQ(ParseError(FileWithHeader(same, F32Bytes({1}))), "tensors a and b overlap (data_offsets [0, 4] and [0, 4])");
}

TEST(Safetensors, RejectsMalformedMetadata) {
  EXPECT_EQ(ParseError(FileWithHeader(R"({"__metadata__": [1]})")), "__metadata__ must be an object, got array");
  EXPECT_EQ(ParseError(FileWithHeader(R"({"__metadata__": {"step": 3}})")), "__metadata__.step must be a string, got integer");
}

TEST(Safetensors, NamesWithControlCharactersStayOnOneLine) {
  std::string header = R"({"bad\nname": {"dtype": "I8", "shape": [1], "data_offsets": [0, 1]}})";
  EXPECT_EQ(ParseError(FileWithHeader(header, "x")), "tensor bad\\nname: unsupported dtype I8 (supported: BF16, F16, F32)");
}

TEST(Safetensors, EveryTruncationOfAValidFileFails) {
  std::string file = SafetensorsBytes({RawTensor{"a", "F32", {3}, F32Bytes({1, 2, 3})},
                                       RawTensor{"b", "BF16", {2}, Bits16Bytes({0x3F80, 0x4000})}});
  ASSERT_TRUE(ParseSafetensors(Span(file)).ok());
  for (size_t size = 0; size < file.size(); ++size) {
    EXPECT_FALSE(ParseSafetensors(Span(file.substr(0, size))).ok()) << "prefix of " << size << " bytes parsed";
  }
}

TEST(SafetensorsFile, OpensMapsAndFinds) {
  testing::TempDir dir;
  testing::WriteFile(dir.file("w.safetensors"),
                     SafetensorsBytes({RawTensor{"x", "F16", {3}, Bits16Bytes({0x3C00, 0x0001, 0x7C00})}}));
  auto file = SafetensorsFile::Open(dir.file("w.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->path(), dir.file("w.safetensors"));
  EXPECT_EQ(file->Find("nope"), nullptr);
  const TensorView* x = file->Find("x");
  ASSERT_NE(x, nullptr);
  std::vector<float> values = ToF32(*x);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(values[2]));

  // Moving the file object keeps the mapping, so views taken before stay valid.
  SafetensorsFile moved = std::move(file).value();
  EXPECT_EQ(moved.Find("x")->data, x->data);
  EXPECT_EQ(ToF32(*moved.Find("x"))[0], 1.0f);
}

TEST(SafetensorsFile, ErrorsStartWithThePath) {
  testing::TempDir dir;
  auto missing = SafetensorsFile::Open(dir.file("absent.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(), dir.file("absent.safetensors") + ": No such file or directory");

  testing::WriteFile(dir.file("short.safetensors"), "abc");
  auto short_file = SafetensorsFile::Open(dir.file("short.safetensors"));
  ASSERT_FALSE(short_file.ok());
  EXPECT_EQ(short_file.status().message(),
            dir.file("short.safetensors") + ": file is 3 bytes, too short for the 8-byte header length");

  auto folder = SafetensorsFile::Open(dir.path().string());
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().message(), dir.path().string() + ": not a regular file");
}

}  // namespace
}  // namespace mixserve::model
