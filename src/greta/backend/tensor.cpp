#include "greta/backend/tensor.h"

namespace greta {

int64_t kv_type_size(KvType t) { return t == KvType::F32 ? 4 : 2; }

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::BF16: return "bf16";
  }
  return "?";
}

}  // namespace greta
