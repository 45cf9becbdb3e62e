#include "greta/model/model.h"

#include <algorithm>
#include <map>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta::model {
namespace {

std::string shape_str(int64_t ne0, int64_t ne1) {
  return ne1 == 1 ? "[" + std::to_string(ne0) + "]" : "[" + std::to_string(ne0) + ", " + std::to_string(ne1) + "]";
}

// Binds one tensor of the table: looks it up by name and checks its type and shape (GGUF order:
// ne0 = row length).
WeightView bind_tensor(const gguf::GgufFile& file, const TensorSpec& spec, const std::string& name,
                       const HParams& hp) {
  const gguf::TensorInfo* t = file.find_tensor(name);
  const bool required = spec.need == Need::Required || (spec.need == Need::IfBias && hp.arch->qkv_bias);
  if (t == nullptr) {
    if (required) fail("missing tensor '" + name + "' in " + file.path());
    return {};
  }
  if (spec.need == Need::Refused) {
    fail(std::string(hp.arch_name()) + ": tensor '" + name + "' is present but greta does not support what it "
         "computes yet (" + file.path() + ")");
  }
  // A part of a fused tensor: the whole tensor's shape is checked, the part's rows are bound.
  int64_t part_row0 = 0, fused_rows = 0;
  const bool part = fused_part(spec.ne1, hp, part_row0, fused_rows);
  const int64_t ne0 = dim_value(spec.ne0, hp), ne1 = part ? fused_rows : dim_value(spec.ne1, hp);
  if (!(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1)) {
    fail("tensor '" + name + "' has shape " + t->shape_string() + ", expected " + shape_str(ne0, ne1));
  }
  const TensorTypeInfo& info = tensor_type_info(t->type);
  if (spec.f32_only) {
    if (t->type != TensorType::F32) fail("tensor '" + name + "' has type " + info.name + ", expected f32");
    if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0) {
      fail("tensor '" + name + "' data is not 4-byte aligned in the file (general.alignment " +
           std::to_string(file.alignment()) + "); f32 vectors are used in place and need it");
    }
  } else {
    if (!info.is_storage_type) fail("tensor '" + name + "' has type " + info.name + ", which greta cannot compute with");
    if (ne0 % info.block_size != 0) {
      fail("tensor '" + name + "' row length " + std::to_string(ne0) + " is not a multiple of the " + info.name +
           " block size " + std::to_string(info.block_size));
    }
  }
  WeightView w;
  w.type = t->type;
  w.rows = part ? dim_value(spec.ne1, hp) : ne1;
  w.cols = ne0;
  w.row_bytes = t->row_bytes();
  w.data = t->data + part_row0 * w.row_bytes;
  return w;
}

}  // namespace

std::unique_ptr<Model> Model::load(const gguf::GgufFile& file) {
  auto m = std::unique_ptr<Model>(new Model());
  HParams& hp = m->hp_;
  hp = hparams_from_gguf(file);
  // The vocabulary size comes from token_embd's rows.
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) fail("missing tensor 'token_embd.weight' in " + file.path());
  if (embd->ne[0] != hp.n_embd || embd->ne[2] != 1 || embd->ne[3] != 1 || embd->ne[1] < 1) {
    fail("tensor 'token_embd.weight' has shape " + embd->shape_string() + ", expected [" + std::to_string(hp.n_embd) +
         ", n_vocab]");
  }
  if (embd->ne[1] > (int64_t{1} << 30)) fail("tensor 'token_embd.weight' vocabulary too large");
  hp.n_vocab = static_cast<int32_t>(embd->ne[1]);

  // Layers are appended as their tensors are found, never sized up front from block_count: a
  // forged count then fails on the first missing tensor instead of allocating per-layer tables.
  Weights& w = m->w_;
  for (const TensorSpec& s : hp.arch->tensors) {
    if (!s.per_layer) (w.*(s.model_field)).host = bind_tensor(file, s, s.name, hp);
  }
  w.layers.reserve(std::min<size_t>(static_cast<size_t>(hp.n_layer), file.tensors().size()));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    LayerWeights& l = w.layers.emplace_back();
    for (const TensorSpec& s : hp.arch->tensors) {
      if (s.per_layer) (l.*(s.layer_field)).host = bind_tensor(file, s, tensor_name(s, il), hp);
    }
  }
  w.tied_output = !w.output.present();
  if (w.tied_output) w.output = w.tok_embd;
  return m;
}

int64_t Model::n_params() const {
  int64_t n = 0;
  for_each_weight(arch(), w_, hp_.n_layer, [&](const TensorSpec& s, int32_t, const Weight& wt) {
    if (s.model_field == &Weights::output && w_.tied_output) return;
    n += wt.present() ? wt.host.elements() : 0;
  });
  return n;
}

int64_t Model::weight_bytes_per_token() const {
  int64_t b = 0;
  for_each_weight(arch(), w_, hp_.n_layer, [&](const TensorSpec& s, int32_t, const Weight& wt) {
    if (s.read_per_token && wt.present()) b += wt.host.bytes();
  });
  return b;
}

std::string Model::weights_type() const {
  std::map<std::string, int64_t> bytes;
  for_each_weight(arch(), w_, hp_.n_layer, [&](const TensorSpec& s, int32_t, const Weight& wt) {
    if (s.f32_only || !s.read_per_token || !wt.present()) return;
    bytes[tensor_type_name(wt.host.type)] += wt.host.bytes();
  });
  std::vector<std::pair<int64_t, std::string>> v;
  for (const auto& [name, b] : bytes) v.emplace_back(b, name);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (v.size() == 1) return v[0].second;
  std::string s = "mixed: ";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "+" : "") + v[i].second;
  return s;
}

}  // namespace greta::model
