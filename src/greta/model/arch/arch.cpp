#include "greta/model/arch/arch.h"

#include "greta/model/hparams.h"

namespace greta::model {
namespace {

// The architectures greta runs. Adding one: a graph file, a tensor table, one row here.
const ArchInfo kArchs[] = {
    {"llama", backend::RopeType::Normal, /*qkv_bias=*/false, kLlamaTensors, llama_forward},
    {"qwen2", backend::RopeType::NeoX, /*qkv_bias=*/true, kLlamaTensors, llama_forward},
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
  }
  return "?";
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
