#include "greta/model/arch/arch.h"

#include <vector>

#include "greta/core/error.h"
#include "greta/model/hparams.h"

namespace greta::model {
namespace {

// The architectures greta runs. Adding one: a graph file, a tensor table, one row here.
const ArchInfo kArchs[] = {
    {"llama", backend::RopeType::Normal, /*qkv_bias=*/false, kLlamaTensors, llama_forward},
    {"qwen2", backend::RopeType::NeoX, /*qkv_bias=*/true, kLlamaTensors, llama_forward},
    {"qwen3", backend::RopeType::NeoX, /*qkv_bias=*/false, kQwen3Tensors, llama_forward},
    {"phi3", backend::RopeType::NeoX, /*qkv_bias=*/false, kPhi3Tensors, llama_forward},
};

}  // namespace

int64_t dim_value(Dim d, const HParams& hp) {
  switch (d) {
    case Dim::One: return 1;
    case Dim::Embd: return hp.n_embd;
    case Dim::EmbdQ: return hp.n_embd_q();
    case Dim::EmbdKv: return hp.n_embd_kv();
    case Dim::Ff: return hp.n_ff;
    case Dim::Vocab: return hp.n_vocab;
    case Dim::RotHalf: return hp.n_rot / 2;
    case Dim::HeadDim: return hp.head_dim;
    case Dim::QkvQ: return hp.n_embd_q();
    case Dim::QkvK: return hp.n_embd_kv();
    case Dim::QkvV: return hp.n_embd_kv();
    case Dim::FfGate: return hp.n_ff;
    case Dim::FfUp: return hp.n_ff;
  }
  return 0;
}

const char* dim_name(Dim d) {
  switch (d) {
    case Dim::One: return "1";
    case Dim::Embd: return "n_embd";
    case Dim::EmbdQ: return "n_head * head_dim";
    case Dim::EmbdKv: return "n_head_kv * head_dim";
    case Dim::Ff: return "n_ff";
    case Dim::Vocab: return "n_vocab";
    case Dim::RotHalf: return "n_rot / 2";
    case Dim::HeadDim: return "head_dim";
    case Dim::QkvQ: return "n_head * head_dim + 2 * n_head_kv * head_dim (Q | K | V)";
    case Dim::QkvK: return "n_head * head_dim + 2 * n_head_kv * head_dim (Q | K | V)";
    case Dim::QkvV: return "n_head * head_dim + 2 * n_head_kv * head_dim (Q | K | V)";
    case Dim::FfGate: return "2 * n_ff (gate | up)";
    case Dim::FfUp: return "2 * n_ff (gate | up)";
  }
  return "?";
}

bool fused_part(Dim d, const HParams& hp, int64_t& row0, int64_t& total_rows) {
  const int64_t q = hp.n_embd_q(), kv = hp.n_embd_kv(), ff = hp.n_ff;
  switch (d) {
    case Dim::QkvQ: row0 = 0, total_rows = q + 2 * kv; return true;
    case Dim::QkvK: row0 = q, total_rows = q + 2 * kv; return true;
    case Dim::QkvV: row0 = q + kv, total_rows = q + 2 * kv; return true;
    case Dim::FfGate: row0 = 0, total_rows = 2 * ff; return true;
    case Dim::FfUp: row0 = ff, total_rows = 2 * ff; return true;
    default: return false;
  }
}

const ArchInfo* find_arch(std::string_view name) {
  for (const ArchInfo& a : kArchs) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

std::string supported_arch_names() {
  std::string s;
  for (const ArchInfo& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

std::string tensor_name(const TensorSpec& spec, int32_t layer) {
  return spec.per_layer ? "blk." + std::to_string(layer) + "." + spec.name : std::string(spec.name);
}

namespace {
template <typename W, typename Fn>
void visit(const ArchInfo& arch, W& w, int32_t n_layer, const Fn& fn) {
  for (const TensorSpec& s : arch.tensors) {
    if (!s.per_layer) fn(s, -1, w.*(s.model_field));
  }
  for (int32_t il = 0; il < n_layer && il < static_cast<int32_t>(w.layers.size()); ++il) {
    for (const TensorSpec& s : arch.tensors) {
      if (s.per_layer) fn(s, il, w.layers[il].*(s.layer_field));
    }
  }
}
}  // namespace

void for_each_weight(const ArchInfo& arch, Weights& w, int32_t n_layer,
                     const std::function<void(const TensorSpec&, int32_t, Weight&)>& fn) {
  visit(arch, w, n_layer, fn);
}

void for_each_weight(const ArchInfo& arch, const Weights& w, int32_t n_layer,
                     const std::function<void(const TensorSpec&, int32_t, const Weight&)>& fn) {
  visit(arch, w, n_layer, fn);
}

void trace_tensor(const GraphArgs& g, const char* name, int layer, const backend::Tensor& t) {
  if (g.trace == nullptr) return;
  std::vector<float> host(static_cast<size_t>(t.rows * t.cols));
  g.be.read(t, host.data());
  (*g.trace)(name, layer, host.data(), t.rows, t.cols);
}

void rms_norm_per_head(backend::Backend& be, const backend::Tensor& t, const backend::Weight& w, int32_t n_heads,
                       int32_t head_dim, float eps) {
  GRETA_ASSERT_MSG(t.cols == int64_t{n_heads} * head_dim, "rms_norm_per_head: t must be [n, n_heads * head_dim]");
  if (t.ld == t.cols) {
    const backend::Tensor rows{t.data, t.rows * n_heads, head_dim, head_dim};
    be.rms_norm(rows, w, rows, eps);
    return;
  }
  for (int32_t h = 0; h < n_heads; ++h) {
    const backend::Tensor head{t.data + int64_t{h} * head_dim, t.rows, head_dim, t.ld};
    be.rms_norm(head, w, head, eps);
  }
}

ActBuffers ActBuffers::alloc(backend::Backend& be, const HParams& hp, int32_t max_rows) {
  ActBuffers b;
  b.max_rows = max_rows;
  b.x = be.alloc(max_rows, hp.n_embd);
  b.xb = be.alloc(max_rows, hp.n_embd);
  b.q = be.alloc(max_rows, hp.n_embd_q());
  b.k = be.alloc(max_rows, hp.n_embd_kv());
  b.v = be.alloc(max_rows, hp.n_embd_kv());
  b.att = be.alloc(max_rows, hp.n_embd_q());
  b.gate = be.alloc(max_rows, hp.n_ff);
  b.up = be.alloc(max_rows, hp.n_ff);
  b.out_x = be.alloc(max_rows, hp.n_embd);
  b.logits = be.alloc(max_rows, hp.n_vocab);
  return b;
}

}  // namespace greta::model
