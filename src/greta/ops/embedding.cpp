#include "greta/ops/embedding.h"

#include <cstring>

#include "greta/core/error.h"
#include "greta/quant/quant.h"

namespace greta::ops {

void embedding_lookup(const cpu::WeightMatrix& table, const int32_t* ids, int64_t n, float* out, int64_t ld,
                      ThreadPool& pool) {
  pool.run(n, [&](int64_t r, int) {
    const int32_t id = ids[r];
    GRETA_ASSERT(id >= 0 && id < table.rows);
    const uint8_t* row = table.data + static_cast<int64_t>(id) * table.row_bytes;
    if (table.type == TensorType::F32) {
      std::memcpy(out + r * ld, row, static_cast<size_t>(table.cols) * sizeof(float));
    } else {
      dequantize_row(table.type, row, out + r * ld, table.cols);
    }
  });
}

void embedding_reference(const cpu::WeightMatrix& table, int32_t id, float* out) {
  GRETA_ASSERT(id >= 0 && id < table.rows);
  dequantize_row(table.type, table.data + static_cast<int64_t>(id) * table.row_bytes, out, table.cols);
}

}  // namespace greta::ops
