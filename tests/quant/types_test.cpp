// The tensor type table: ggml ids, names, block layouts, storage flags, name lookup.

#include <cstring>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "greta/quant/blocks.h"
#include "greta/quant/types.h"

namespace greta {
namespace {

struct Expected {
  uint32_t id;
  const char* name;
  int64_t block_size;
  int64_t type_size;
  bool storage;
};

// From ggml.h / ggml-common.h (QK_K = 256).
const Expected kExpected[] = {
    {0, "f32", 1, 4, true},          {1, "f16", 1, 2, true},        {2, "q4_0", 32, 18, true},
    {3, "q4_1", 32, 20, true},       {6, "q5_0", 32, 22, true},     {7, "q5_1", 32, 24, true},
    {8, "q8_0", 32, 34, true},       {9, "q8_1", 32, 36, false},    {10, "q2_K", 256, 84, true},
    {11, "q3_K", 256, 110, true},    {12, "q4_K", 256, 144, true},  {13, "q5_K", 256, 176, true},
    {14, "q6_K", 256, 210, true},    {15, "q8_K", 256, 292, false}, {16, "iq2_xxs", 256, 66, false},
    {17, "iq2_xs", 256, 74, false},  {18, "iq3_xxs", 256, 98, false}, {19, "iq1_s", 256, 50, false},
    {20, "iq4_nl", 32, 18, false},   {21, "iq3_s", 256, 110, false}, {22, "iq2_s", 256, 82, false},
    {23, "iq4_xs", 256, 136, false}, {24, "i8", 1, 1, false},       {25, "i16", 1, 2, false},
    {26, "i32", 1, 4, false},        {27, "i64", 1, 8, false},      {28, "f64", 1, 8, false},
    {29, "iq1_m", 256, 56, false},   {30, "bf16", 1, 2, true},      {34, "tq1_0", 256, 54, false},
    {35, "tq2_0", 256, 66, false},   {39, "mxfp4", 32, 17, false},
};

TEST(TensorTypes, TableMatchesGgml) {
  for (const auto& e : kExpected) {
    const auto info = tensor_type_info(e.id);
    ASSERT_TRUE(info.has_value()) << e.id;
    EXPECT_EQ(static_cast<uint32_t>(info->type), e.id);
    EXPECT_STREQ(info->name, e.name);
    EXPECT_EQ(info->block_size, e.block_size) << e.name;
    EXPECT_EQ(info->type_size, e.type_size) << e.name;
    EXPECT_EQ(info->is_storage_type, e.storage) << e.name;
    EXPECT_STREQ(tensor_type_name(info->type), e.name);
    EXPECT_EQ(&tensor_type_info(info->type), &tensor_type_info(info->type));
  }
}

TEST(TensorTypes, RemovedAndUnknownIdsAreUnknown) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 41u, 1000u, 0xFFFFFFFFu}) {
    EXPECT_FALSE(tensor_type_info(id).has_value()) << id;
  }
  std::set<uint32_t> known;
  for (const auto& e : kExpected) known.insert(e.id);
  for (uint32_t id = 0; id < 256; ++id) {
    EXPECT_EQ(tensor_type_info(id).has_value(), known.count(id) == 1) << id;
  }
}

TEST(TensorTypes, FromNameIsCaseInsensitive) {
  for (const auto& e : kExpected) {
    const auto t = tensor_type_from_name(e.name);
    ASSERT_TRUE(t.has_value()) << e.name;
    EXPECT_EQ(static_cast<uint32_t>(*t), e.id);
    std::string upper = e.name;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(tensor_type_from_name(upper), t) << upper;
  }
  EXPECT_EQ(tensor_type_from_name("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(tensor_type_from_name("BF16"), TensorType::BF16);
  EXPECT_FALSE(tensor_type_from_name("").has_value());
  EXPECT_FALSE(tensor_type_from_name("q4").has_value());
  EXPECT_FALSE(tensor_type_from_name("q4_0 ").has_value());
  EXPECT_FALSE(tensor_type_from_name("f8").has_value());
  EXPECT_FALSE(tensor_type_from_name(std::string("q4_0\0x", 6)).has_value());
}

TEST(TensorTypes, RowBytes) {
  EXPECT_EQ(tensor_row_bytes(TensorType::F32, 256), 1024);
  EXPECT_EQ(tensor_row_bytes(TensorType::Q8_0, 4096), 4096 / 32 * 34);
  EXPECT_EQ(tensor_row_bytes(TensorType::Q4_K, 4096), 16 * 144);
  EXPECT_EQ(tensor_row_bytes(TensorType::Q6_K, 11008), 43 * 210);
}

TEST(TensorTypes, BlockStructsMatchTheTable) {
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ4_0)), tensor_type_info(TensorType::Q4_0).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ4_1)), tensor_type_info(TensorType::Q4_1).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ5_0)), tensor_type_info(TensorType::Q5_0).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ5_1)), tensor_type_info(TensorType::Q5_1).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ8_0)), tensor_type_info(TensorType::Q8_0).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ8_1)), tensor_type_info(TensorType::Q8_1).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ2_K)), tensor_type_info(TensorType::Q2_K).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ3_K)), tensor_type_info(TensorType::Q3_K).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ4_K)), tensor_type_info(TensorType::Q4_K).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ5_K)), tensor_type_info(TensorType::Q5_K).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ6_K)), tensor_type_info(TensorType::Q6_K).type_size);
  EXPECT_EQ(static_cast<int64_t>(sizeof(BlockQ8_K)), tensor_type_info(TensorType::Q8_K).type_size);
}

}  // namespace
}  // namespace greta
