#include "runtime/model/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace mixserve::model {
namespace {

TEST(DType, NamesSizesAndParsing) {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32}) {
    auto parsed = ParseSafetensorsDType(DTypeName(dtype));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, dtype);
  }
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(ParseSafetensorsDType("I64").status().message(), "unsupported dtype I64 (supported: BF16, F16, F32)");
  EXPECT_EQ(*ParseTorchDType("bfloat16"), DType::kBF16);
  EXPECT_EQ(*ParseTorchDType("float16"), DType::kF16);
  EXPECT_EQ(*ParseTorchDType("float32"), DType::kF32);
  EXPECT_EQ(ParseTorchDType("int8").status().message(),
            "unsupported torch dtype int8 (supported: bfloat16, float16, float32)");
}

TEST(DType, Bf16KnownValues) {
  EXPECT_EQ(Bf16BitsToF32(0x3F80), 1.0f);
  EXPECT_EQ(Bf16BitsToF32(0xC040), -3.0f);
  EXPECT_EQ(Bf16BitsToF32(0x7F7F), 3.3895313892515355e38f);  // largest finite bf16
  EXPECT_EQ(Bf16BitsToF32(0x0001), std::ldexp(1.0f, -133));   // smallest subnormal bf16
  EXPECT_EQ(Bf16BitsToF32(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(Bf16BitsToF32(0x8000)));
  EXPECT_EQ(Bf16BitsToF32(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Bf16BitsToF32(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Bf16BitsToF32(0x7FC0)));
  EXPECT_TRUE(std::isnan(Bf16BitsToF32(0xFF81)));
}

TEST(DType, F16KnownValues) {
  EXPECT_EQ(F16BitsToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16BitsToF32(0xC000), -2.0f);
  EXPECT_EQ(F16BitsToF32(0x3555), 0.333251953125f);
  EXPECT_EQ(F16BitsToF32(0x7BFF), 65504.0f);                          // largest finite
  EXPECT_EQ(F16BitsToF32(0x0400), std::ldexp(1.0f, -14));              // smallest normal
  EXPECT_EQ(F16BitsToF32(0x0001), std::ldexp(1.0f, -24));              // smallest subnormal
  EXPECT_EQ(F16BitsToF32(0x03FF), std::ldexp(1023.0f, -24));           // largest subnormal
  EXPECT_EQ(F16BitsToF32(0x8200), -std::ldexp(512.0f, -24));           // negative subnormal
  EXPECT_EQ(F16BitsToF32(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(F16BitsToF32(0x8000)));
  EXPECT_EQ(F16BitsToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16BitsToF32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16BitsToF32(0x7E00)));
  EXPECT_TRUE(std::isnan(F16BitsToF32(0x7C01)));  // signalling NaN stays NaN, not infinity
  EXPECT_TRUE(std::isnan(F16BitsToF32(0xFE00)));
}

// Every fp16 value, checked against an independent definition: (-1)^s * 2^(e-15) * (1 + m/1024),
// or 2^-14 * m/1024 when e == 0.
TEST(DType, F16MatchesItsDefinitionForAllBitPatterns) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const int sign = (bits >> 15) ? -1 : 1;
    const int exponent = static_cast<int>((bits >> 10) & 0x1F);
    const int mantissa = static_cast<int>(bits & 0x3FF);
    const float got = F16BitsToF32(static_cast<uint16_t>(bits));
    if (exponent == 31) {
      EXPECT_EQ(std::isnan(got), mantissa != 0) << std::hex << bits;
      if (mantissa == 0) {
        EXPECT_EQ(got, sign * std::numeric_limits<float>::infinity()) << std::hex << bits;
      }
      continue;
    }
    const double want = exponent == 0 ? sign * std::ldexp(mantissa / 1024.0, -14)
                                      : sign * std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
    ASSERT_EQ(static_cast<double>(got), want) << std::hex << bits;
    EXPECT_EQ(std::signbit(got), sign < 0) << std::hex << bits;
  }
}

// Every bf16 value is the fp32 with the same top 16 bits.
TEST(DType, Bf16MatchesFp32TopHalfForAllBitPatterns) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    ASSERT_EQ(std::bit_cast<uint32_t>(Bf16BitsToF32(static_cast<uint16_t>(bits))), bits << 16) << std::hex << bits;
  }
}

TEST(DType, ConvertsLittleEndianBuffersAtAnyAlignment) {
  // One byte of padding first so the elements sit at an odd address.
  std::vector<uint8_t> buffer = {0xAA, 0x00, 0x3C, 0x01, 0x00, 0x00, 0xFC};
  std::vector<float> out(3);
  ConvertToF32(DType::kF16, std::span<const uint8_t>(buffer).subspan(1), out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], std::ldexp(1.0f, -24));
  EXPECT_EQ(out[2], -std::numeric_limits<float>::infinity());

  std::vector<uint8_t> bf16 = {0xAA, 0x80, 0x3F, 0x00, 0xC0};
  std::vector<float> bf16_out(2);
  ConvertToF32(DType::kBF16, std::span<const uint8_t>(bf16).subspan(1), bf16_out);
  EXPECT_EQ(bf16_out, (std::vector<float>{1.0f, -2.0f}));

  const float f32_values[2] = {3.25f, -1e-30f};
  std::vector<uint8_t> f32(1 + sizeof(f32_values));
  std::memcpy(f32.data() + 1, f32_values, sizeof(f32_values));
  std::vector<float> f32_out(2);
  ConvertToF32(DType::kF32, std::span<const uint8_t>(f32).subspan(1), f32_out);
  EXPECT_EQ(f32_out, (std::vector<float>{3.25f, -1e-30f}));
}

}  // namespace
}  // namespace mixserve::model
