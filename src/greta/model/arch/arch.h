#pragma once
// Architectures as tables. An architecture is one graph function (arch/<name>.cpp) and one
// tensor table: every tensor it reads, with its GGUF name, shape, type rule and whether it is
// required. docs/ARCHITECTURE.md, "Adding an architecture", is the recipe.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "greta/backend/backend.h"
#include "greta/model/weights.h"

namespace greta::model {

struct HParams;

// A tensor dimension in terms of the hyperparameters.
enum class Dim {
  One, Embd, EmbdQ, EmbdKv, Ff, Vocab, RotHalf, HeadDim,
  // Parts of a fused tensor (as ne1: the part's rows). A spec with one of these binds a view of
  // rows [row0, row0 + rows) of the named tensor, whose rows are the whole fused range: Phi-3's
  // attn_qkv = Q | K | V rows and ffn_up = gate | up rows. No copy: the view is in the mapping.
  QkvQ, QkvK, QkvV, FfGate, FfUp,
};
// For a fused-part Dim: the part's first row and the fused tensor's row count; false otherwise.
bool fused_part(Dim d, const HParams& hp, int64_t& row0, int64_t& total_rows);
int64_t dim_value(Dim d, const HParams& hp);
const char* dim_name(Dim d);

enum class Need {
  Required,
  Optional,
  IfBias,  // required when the architecture has Q/K/V biases (qwen2), else optional
  Refused, // a feature greta does not implement yet: the model is refused when the tensor is present
};

struct TensorSpec {
  const char* name;  // GGUF name; per-layer tensors without the "blk.N." prefix
  bool per_layer;
  Dim ne0;           // row length (GGUF ne[0])
  Dim ne1;           // rows (GGUF ne[1]); One for vectors
  bool f32_only;     // vectors used in place as f32 (norms, biases, factors)
  Need need;
  Weight Weights::*model_field;      // set for model-level tensors
  Weight LayerWeights::*layer_field; // set for per-layer tensors
  bool read_per_token;               // counted in weight bytes per decode step (all but token_embd)
};

// Named intermediates of a forward pass ("attn_norm", layer 3, [rows, cols] f32, host memory),
// for locating the first diverging layer between two runs. layer is -1 for model-level tensors.
using ForwardTrace = std::function<void(const char* name, int layer, const float* data, int64_t rows, int64_t cols)>;

// Activation buffers of a context, for micro-batches of up to max_rows rows (backend memory).
struct ActBuffers {
  int32_t max_rows = 0;
  backend::Tensor x;       // [max_rows, n_embd]   residual stream
  backend::Tensor xb;      // [max_rows, n_embd]   normed input of a block
  backend::Tensor q;       // [max_rows, n_embd_q]
  backend::Tensor k;       // [max_rows, n_embd_kv]
  backend::Tensor v;       // [max_rows, n_embd_kv]
  backend::Tensor att;     // [max_rows, n_embd_q]  attention output
  backend::Tensor gate;    // [max_rows, n_ff]
  backend::Tensor up;      // [max_rows, n_ff]
  backend::Tensor out_x;   // [max_rows, n_embd]   rows whose logits are wanted
  backend::Tensor logits;  // [max_rows, n_vocab]

  static ActBuffers alloc(backend::Backend& be, const HParams& hp, int32_t max_rows);
};

// One forward pass over the micro-batch given to be.set_batch (n_rows rows, n_out logits rows).
struct GraphArgs {
  backend::Backend& be;
  const HParams& hp;
  const Weights& w;     // with the backend's handles (Backend::upload)
  const ActBuffers& buf;
  int32_t n_rows = 0;
  int32_t n_out = 0;    // logits are written to buf.logits rows [0, n_out)
  const ForwardTrace* trace = nullptr;
};
using GraphFn = void (*)(const GraphArgs& args);

struct ArchInfo {
  const char* name;              // general.architecture
  backend::RopeType rope_type;
  bool qkv_bias;                 // Q/K/V projections carry biases
  std::span<const TensorSpec> tensors;
  GraphFn forward;
};

// nullptr if greta does not know the architecture.
const ArchInfo* find_arch(std::string_view name);
std::string supported_arch_names();  // "llama, qwen2, qwen3, phi3"

// Calls fn(spec, layer, weight) for every tensor of the table (layer -1 for model-level ones),
// model-level tensors first, then layer by layer in table order.
void for_each_weight(const ArchInfo& arch, Weights& w, int32_t n_layer,
                     const std::function<void(const TensorSpec&, int32_t, Weight&)>& fn);
void for_each_weight(const ArchInfo& arch, const Weights& w, int32_t n_layer,
                     const std::function<void(const TensorSpec&, int32_t, const Weight&)>& fn);
// "blk.3.attn_q.weight" / "token_embd.weight".
std::string tensor_name(const TensorSpec& spec, int32_t layer);

// The graph of the llama family (llama, qwen2, qwen3, phi3): arch/llama.cpp.
void llama_forward(const GraphArgs& args);
extern const std::span<const TensorSpec> kLlamaTensors;
// Qwen3: the llama block with per-head Q/K RMSNorm and head_dim decoupled from n_embd
// (tensors in arch/qwen3.cpp; the llama graph).
extern const std::span<const TensorSpec> kQwen3Tensors;
// Phi-3: the llama graph over views of the fused attn_qkv and ffn_up tensors (arch/phi3.cpp).
extern const std::span<const TensorSpec> kPhi3Tensors;

// Helpers shared by the graph files.
// Reads a tensor back for the trace callback (does nothing unless tracing).
void trace_tensor(const GraphArgs& g, const char* name, int layer, const backend::Tensor& t);
// RMSNorm of every head of t [n, n_heads * head_dim] in place, with one weight [head_dim] for all
// heads (Qwen3 / Gemma 3 Q/K norms): the rms_norm op on the [n * n_heads, head_dim] view of t's
// rows when they are contiguous (ld == cols), else one rms_norm per head over strided views --
// the same arithmetic per head either way.
void rms_norm_per_head(backend::Backend& be, const backend::Tensor& t, const backend::Weight& w, int32_t n_heads,
                       int32_t head_dim, float eps);

}  // namespace greta::model
