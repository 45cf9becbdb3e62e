#include "greta/model/weights.h"

#include <algorithm>
#include <string>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta::model {
namespace {

std::string shape_str(int64_t ne0, int64_t ne1) {
  return ne1 == 1 ? "[" + std::to_string(ne0) + "]" : "[" + std::to_string(ne0) + ", " + std::to_string(ne1) + "]";
}

// Looks tensors up by name and checks their type and shape (GGUF order: ne0 = row length).
class Binder {
 public:
  explicit Binder(const gguf::GgufFile& file) : file_(file) {}

  const gguf::TensorInfo* find(const std::string& name, bool required) const {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (t == nullptr && required) fail("missing tensor '" + name + "' in " + file_.path());
    return t;
  }

  void check_shape(const gguf::TensorInfo& t, int64_t ne0, int64_t ne1) const {
    const bool ok = t.ne[0] == ne0 && t.ne[1] == ne1 && t.ne[2] == 1 && t.ne[3] == 1;
    if (!ok) {
      fail("tensor '" + std::string(t.name) + "' has shape " + t.shape_string() + ", expected " +
           shape_str(ne0, ne1));
    }
  }

  // A weight matrix [rows, cols] (GGUF shape [cols, rows]) in any storage type.
  cpu::WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows, bool required = true) const {
    const gguf::TensorInfo* t = find(name, required);
    if (t == nullptr) return {};
    check_shape(*t, cols, rows);
    const TensorTypeInfo& info = tensor_type_info(t->type);
    if (!info.is_storage_type) {
      fail("tensor '" + name + "' has type " + info.name + ", which greta cannot compute with");
    }
    if (cols % info.block_size != 0) {
      fail("tensor '" + name + "' row length " + std::to_string(cols) + " is not a multiple of the " + info.name +
           " block size " + std::to_string(info.block_size));
    }
    cpu::WeightMatrix w;
    w.type = t->type;
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = t->row_bytes();
    w.data = t->data;
    return w;
  }

  // An f32 vector [n] (norm weights, biases, frequency factors).
  const float* vector(const std::string& name, int64_t n, bool required = true) const {
    const gguf::TensorInfo* t = find(name, required);
    if (t == nullptr) return nullptr;
    check_shape(*t, n, 1);
    if (t->type != TensorType::F32) {
      fail("tensor '" + name + "' has type " + tensor_type_name(t->type) + ", expected f32");
    }
    if (reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0) {
      fail("tensor '" + name + "' data is not 4-byte aligned in the file (general.alignment " +
           std::to_string(file_.alignment()) + "); f32 vectors are used in place and need it");
    }
    return reinterpret_cast<const float*>(t->data);
  }

 private:
  const gguf::GgufFile& file_;
};

}  // namespace

// The tensors of each architecture, required and optional, in one place.
Weights bind_weights(const gguf::GgufFile& file, HParams& hp) {
  Binder b(file);
  Weights w;
  const int64_t n_embd = hp.n_embd;
  const int64_t n_q = hp.n_embd_q();
  const int64_t n_kv = hp.n_embd_kv();
  const int64_t n_ff = hp.n_ff;
  const bool biases = hp.arch == Arch::Qwen2;  // qwen2: Q/K/V projections carry biases

  const gguf::TensorInfo* embd = b.find("token_embd.weight", true);
  if (embd->ne[0] != n_embd || embd->ne[2] != 1 || embd->ne[3] != 1 || embd->ne[1] < 1) {
    fail("tensor 'token_embd.weight' has shape " + embd->shape_string() + ", expected " +
         "[" + std::to_string(n_embd) + ", n_vocab]");
  }
  if (embd->ne[1] > (int64_t{1} << 30)) fail("tensor 'token_embd.weight' vocabulary too large");
  hp.n_vocab = static_cast<int32_t>(embd->ne[1]);
  const int64_t n_vocab = hp.n_vocab;
  w.tok_embd = b.matrix("token_embd.weight", n_embd, n_vocab);
  w.output_norm = b.vector("output_norm.weight", n_embd);
  w.output = b.matrix("output.weight", n_embd, n_vocab, /*required=*/false);
  w.tied_output = w.output.data == nullptr;
  if (w.tied_output) w.output = w.tok_embd;
  w.rope_freqs = b.vector("rope_freqs.weight", hp.n_rot / 2, /*required=*/false);

  // Layers are appended as their tensors are found, never sized up front from block_count: a
  // forged count then fails on the first missing tensor instead of allocating per-layer tables.
  w.layers.reserve(std::min<size_t>(static_cast<size_t>(hp.n_layer), file.tensors().size()));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights& l = w.layers.emplace_back();
    l.attn_norm = b.vector(p + "attn_norm.weight", n_embd);
    l.wq = b.matrix(p + "attn_q.weight", n_embd, n_q);
    l.wk = b.matrix(p + "attn_k.weight", n_embd, n_kv);
    l.wv = b.matrix(p + "attn_v.weight", n_embd, n_kv);
    l.wo = b.matrix(p + "attn_output.weight", n_q, n_embd);
    l.bq = b.vector(p + "attn_q.bias", n_q, biases);
    l.bk = b.vector(p + "attn_k.bias", n_kv, biases);
    l.bv = b.vector(p + "attn_v.bias", n_kv, biases);
    l.ffn_norm = b.vector(p + "ffn_norm.weight", n_embd);
    l.ffn_gate = b.matrix(p + "ffn_gate.weight", n_embd, n_ff);
    l.ffn_up = b.matrix(p + "ffn_up.weight", n_embd, n_ff);
    l.ffn_down = b.matrix(p + "ffn_down.weight", n_ff, n_embd);
  }
  return w;
}

}  // namespace greta::model
