#pragma once
// The runtime API the CLIs use: load a model, run prefill/decode against a KV cache.
//
//   auto lm = greta::load_model("models/stories260K.gguf");
//   greta::Session s(*lm, {.n_ctx = 0, .kv_dtype = KvDtype::BF16, .kv_aligned = true, .n_threads = 2});
//   const float* logits = s.prefill(prompt_ids, /*all_logits=*/false);  // [1, n_vocab]
//   logits = s.decode(next_id);                                         // [n_vocab]
//
// prefill() and decode() are two real code paths (batched vs single-token). With kv_aligned the
// logits of a position are bit-identical whichever path computed it, for any n_threads.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "greta/tokenizer/tokenizer.h"

namespace greta {

namespace gguf { class GgufFile; }
namespace model { class Model; }
class ThreadPool;

enum class KvDtype { F32, F16, BF16 };
const char* kv_dtype_name(KvDtype t);  // "f32", "f16", "bf16"

struct ModelStats {
  std::string arch;              // "llama", "qwen2"
  std::string weights_type;      // dominant matrix type, e.g. "q8_0" (or "mixed: q4_K+q6_K")
  int64_t n_params = 0;
  int64_t weight_bytes_per_token = 0;  // bytes of weights read by one decode step (no embedding table)
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;
  int32_t n_layer = 0;
  int32_t n_embd = 0;
};

// A loaded model: the mapped file, its tokenizer and its bound weights. Immutable; sessions
// share it.
struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<model::Model> model;
  ModelStats stats;
  ~LoadedModel();
};

// Throws greta::Error naming the file and the problem.
std::unique_ptr<LoadedModel> load_model(const std::string& path);

struct SessionOptions {
  int32_t n_ctx = 0;  // 0: the model's context length, capped at 4096
  KvDtype kv_dtype = KvDtype::BF16;
  bool kv_aligned = false;
  int n_threads = 1;
  // Matmuls with f32 activations for every weight type (exact math) instead of the fast path
  // that quantizes activations to 8 bits for Q8_0/Q4_0/Q4_K/Q6_K weights, as ggml does.
  bool f32_activations = false;
};

// What a generation driver needs from a session, whichever backend runs it (CPU: Session;
// GPU: cuda::CudaSession). Same contracts as Session's members below.
class InferenceSession {
 public:
  virtual ~InferenceSession() = default;
  virtual int32_t n_ctx() const = 0;
  virtual int32_t n_past() const = 0;
  virtual int32_t n_vocab() const = 0;
  virtual const float* prefill(std::span<const TokenId> tokens, bool all_logits) = 0;
  virtual const float* decode(TokenId token) = 0;
  virtual void reset() = 0;
};

class Session final : public InferenceSession {
 public:
  Session(const LoadedModel& model, const SessionOptions& options);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int32_t n_ctx() const override;
  int32_t n_past() const override;   // positions already in the KV cache
  int32_t n_vocab() const override;

  // Batched prefill of tokens at positions [n_past, n_past + n). Returns logits
  // [all_logits ? n : 1, n_vocab] f32 (the last row only when !all_logits), valid until the next
  // call. Throws greta::Error if n_past + n > n_ctx or a token id is out of range.
  const float* prefill(std::span<const TokenId> tokens, bool all_logits) override;

  // Single-token decode at position n_past. Returns logits [n_vocab] f32.
  const float* decode(TokenId token) override;

  // Forget the KV cache (n_past = 0).
  void reset() override;

  // Debugging: called with every named intermediate of the forward pass ("attn_norm", "Qcur",
  // "kqv_out", "ffn_inp", "l_out", "result_norm", "result_output", ...), its layer (-1 for
  // model-level tensors) and its rows [rows, cols] f32 (the rows of the current batch), so two
  // runs can be compared layer by layer. An empty function turns tracing off.
  using Trace = std::function<void(const char* name, int layer, const float* data, int64_t rows, int64_t cols)>;
  void set_trace(Trace trace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Session backends by name. "cpu" is always there; a GPU backend registers itself when it is
// linked in (greta_infer calls cuda::register_backend() in CUDA builds).
using SessionFactory =
    std::function<std::unique_ptr<InferenceSession>(const LoadedModel& model, const SessionOptions& options)>;
struct SessionBackend {
  std::string name;
  SessionFactory create;
  std::function<std::string()> describe;  // e.g. the device's name
};
void register_session_backend(SessionBackend backend);
const SessionBackend* find_session_backend(const std::string& name);  // nullptr if not built in
std::vector<std::string> session_backend_names();

}  // namespace greta
