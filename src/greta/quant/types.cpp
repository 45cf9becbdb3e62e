// The tensor type table: every ggml type id greta can name, with its block layout.

#include "greta/quant/types.h"

#include <array>
#include <cctype>

#include "greta/core/error.h"

namespace greta {
namespace {

// Ordered by ggml id. Ids 4, 5 (q4_2, q4_3), 31..33 and 36..38 (repacked q4_0/iq4_nl variants)
// were removed from ggml and are unknown here. Sizes follow ggml-common.h (QK_K = 256).
constexpr std::array<TensorTypeInfo, 32> kTensorTypes = {{
    {TensorType::F32, "f32", 1, 4, true},
    {TensorType::F16, "f16", 1, 2, true},
    {TensorType::Q4_0, "q4_0", 32, 18, true},
    {TensorType::Q4_1, "q4_1", 32, 20, true},
    {TensorType::Q5_0, "q5_0", 32, 22, true},
    {TensorType::Q5_1, "q5_1", 32, 24, true},
    {TensorType::Q8_0, "q8_0", 32, 34, true},
    {TensorType::Q8_1, "q8_1", 32, 36, false},
    {TensorType::Q2_K, "q2_K", 256, 84, true},
    {TensorType::Q3_K, "q3_K", 256, 110, true},
    {TensorType::Q4_K, "q4_K", 256, 144, true},
    {TensorType::Q5_K, "q5_K", 256, 176, true},
    {TensorType::Q6_K, "q6_K", 256, 210, true},
    {TensorType::Q8_K, "q8_K", 256, 292, false},
    {TensorType::IQ2_XXS, "iq2_xxs", 256, 66, false},
    {TensorType::IQ2_XS, "iq2_xs", 256, 74, false},
    {TensorType::IQ3_XXS, "iq3_xxs", 256, 98, false},
    {TensorType::IQ1_S, "iq1_s", 256, 50, false},
    {TensorType::IQ4_NL, "iq4_nl", 32, 18, false},
    {TensorType::IQ3_S, "iq3_s", 256, 110, false},
    {TensorType::IQ2_S, "iq2_s", 256, 82, false},
    {TensorType::IQ4_XS, "iq4_xs", 256, 136, false},
    {TensorType::I8, "i8", 1, 1, false},
    {TensorType::I16, "i16", 1, 2, false},
    {TensorType::I32, "i32", 1, 4, false},
    {TensorType::I64, "i64", 1, 8, false},
    {TensorType::F64, "f64", 1, 8, false},
    {TensorType::IQ1_M, "iq1_m", 256, 56, false},
    {TensorType::BF16, "bf16", 1, 2, true},
    {TensorType::TQ1_0, "tq1_0", 256, 54, false},
    {TensorType::TQ2_0, "tq2_0", 256, 66, false},
    {TensorType::MXFP4, "mxfp4", 32, 17, false},
}};

// Index into kTensorTypes by ggml id (-1: unknown id), so that lookups on hot paths (a
// dequantize_row call per block) are O(1).
constexpr uint32_t kMaxTypeId = 40;
constexpr std::array<int8_t, kMaxTypeId> make_index() {
  std::array<int8_t, kMaxTypeId> index{};
  for (auto& i : index) i = -1;
  for (size_t i = 0; i < kTensorTypes.size(); ++i) {
    index[static_cast<uint32_t>(kTensorTypes[i].type)] = static_cast<int8_t>(i);
  }
  return index;
}
constexpr std::array<int8_t, kMaxTypeId> kTypeIndex = make_index();

const TensorTypeInfo* find_info(uint32_t raw) {
  if (raw >= kMaxTypeId || kTypeIndex[raw] < 0) return nullptr;
  return &kTensorTypes[static_cast<size_t>(kTypeIndex[raw])];
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t raw_type) {
  const TensorTypeInfo* info = find_info(raw_type);
  if (info == nullptr) return std::nullopt;
  return *info;
}

const TensorTypeInfo& tensor_type_info(TensorType type) {
  const TensorTypeInfo* info = find_info(static_cast<uint32_t>(type));
  GRETA_ASSERT_MSG(info != nullptr, "TensorType value outside the type table");
  return *info;
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const auto& info : kTensorTypes) {
    if (equals_ignore_case(name, info.name)) return info.type;
  }
  return std::nullopt;
}

}  // namespace greta
