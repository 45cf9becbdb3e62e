// quant.h's entry points: dispatch on the tensor type to the per-type reference conversions.

#include "greta/quant/quant.h"

#include <cstring>

#include "greta/core/error.h"
#include "greta/quant/quant_internal.h"

namespace greta {

using namespace quant_detail;

namespace {

// Element i of a u16 array at any address (GGUF data may be 1-byte aligned).
inline uint16_t load_u16(const void* p, int64_t i) {
  uint16_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(p) + 2 * i, sizeof v);
  return v;
}

inline void store_u16(void* p, int64_t i, uint16_t v) {
  std::memcpy(static_cast<uint8_t*>(p) + 2 * i, &v, sizeof v);
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  const auto& info = tensor_type_info(type);
  GRETA_ASSERT_MSG(info.is_storage_type, "dequantize_row: not a storage type");
  GRETA_ASSERT(n >= 0 && n % info.block_size == 0);
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(src, i));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(src, i));
      return;
    case TensorType::Q4_0: return dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case TensorType::Q4_1: return dequantize_q4_1(static_cast<const BlockQ4_1*>(src), dst, n);
    case TensorType::Q5_0: return dequantize_q5_0(static_cast<const BlockQ5_0*>(src), dst, n);
    case TensorType::Q5_1: return dequantize_q5_1(static_cast<const BlockQ5_1*>(src), dst, n);
    case TensorType::Q8_0: return dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case TensorType::Q2_K: return dequantize_q2_k(static_cast<const BlockQ2_K*>(src), dst, n);
    case TensorType::Q3_K: return dequantize_q3_k(static_cast<const BlockQ3_K*>(src), dst, n);
    case TensorType::Q4_K: return dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n);
    case TensorType::Q5_K: return dequantize_q5_k(static_cast<const BlockQ5_K*>(src), dst, n);
    case TensorType::Q6_K: return dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n);
    default: break;
  }
  GRETA_ASSERT_MSG(false, "dequantize_row: storage type without a dequantizer");
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  const auto& info = tensor_type_info(type);
  GRETA_ASSERT_MSG(info.is_storage_type, "quantize_row: not a storage type");
  GRETA_ASSERT(n >= 0 && n % info.block_size == 0);
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst, i, fp32_to_fp16(src[i]));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst, i, fp32_to_bf16(src[i]));
      return;
    case TensorType::Q4_0: return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
    case TensorType::Q4_1: return quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), n);
    case TensorType::Q5_0: return quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), n);
    case TensorType::Q5_1: return quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), n);
    case TensorType::Q8_0: return quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case TensorType::Q2_K: return quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), n);
    case TensorType::Q3_K: return quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), n);
    case TensorType::Q4_K: return quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n);
    case TensorType::Q5_K: return quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), n);
    case TensorType::Q6_K: return quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n);
    default: break;
  }
  GRETA_ASSERT_MSG(false, "quantize_row: storage type without a quantizer");
}

}  // namespace greta
