#include "greta/runtime/session.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/gguf/gguf_file.h"
#include "greta/model/forward.h"
#include "greta/model/model.h"
#include "greta/runtime/kv_cache.h"

namespace greta {
namespace {

// Prompts are processed in micro-batches of at most this many tokens, so activation memory is
// bounded whatever the prompt length. Under kv_aligned the boundaries change no bit (every op is
// per row, attention reads the cache).
constexpr int32_t kMaxMicroBatch = 256;
constexpr int32_t kDefaultCtxCap = 4096;

ops::KvType to_ops(KvDtype t) {
  switch (t) {
    case KvDtype::F32: return ops::KvType::F32;
    case KvDtype::F16: return ops::KvType::F16;
    case KvDtype::BF16: return ops::KvType::BF16;
  }
  return ops::KvType::F32;
}

std::string weights_type_of(const model::Model& m) {
  std::map<std::string, int64_t> bytes;
  auto add = [&](const cpu::WeightMatrix& w) { bytes[tensor_type_name(w.type)] += cpu::matmul_weight_bytes(w); };
  for (const model::LayerWeights& l : m.weights().layers) {
    for (const cpu::WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) add(*w);
  }
  add(m.weights().output);
  std::vector<std::pair<int64_t, std::string>> v;
  for (const auto& [name, b] : bytes) v.emplace_back(b, name);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (v.size() == 1) return v[0].second;
  std::string s = "mixed: ";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "+" : "") + v[i].second;
  return s;
}

}  // namespace

const char* kv_dtype_name(KvDtype t) { return ops::kv_type_name(to_ops(t)); }

LoadedModel::~LoadedModel() = default;

std::unique_ptr<LoadedModel> load_model(const std::string& path) {
  auto lm = std::make_unique<LoadedModel>();
  lm->file = gguf::GgufFile::open(path);
  try {
    lm->model = model::Model::load(*lm->file);
    lm->tokenizer = Tokenizer::from_gguf(*lm->file);
  } catch (const Error& e) {
    rethrow_with_context(e, "loading model '" + path + "'");
  }
  const model::HParams& hp = lm->model->hparams();
  if (lm->tokenizer->vocab_size() > hp.n_vocab) {
    fail("loading model '" + path + "': the tokenizer has " + std::to_string(lm->tokenizer->vocab_size()) +
         " tokens but token_embd.weight has only " + std::to_string(hp.n_vocab) + " rows");
  }
  ModelStats& s = lm->stats;
  s.arch = model::arch_name(hp.arch);
  s.weights_type = weights_type_of(*lm->model);
  s.n_params = lm->model->n_params();
  s.weight_bytes_per_token = lm->model->weight_bytes_per_token();
  s.n_vocab = hp.n_vocab;
  s.n_ctx_train = hp.n_ctx_train;
  s.n_layer = hp.n_layer;
  s.n_embd = hp.n_embd;
  return lm;
}

struct Session::Impl {
  Impl(const LoadedModel& lm_, const SessionOptions& opt_, int32_t n_ctx_)
      : lm(lm_),
        model(*lm_.model),
        opt(opt_),
        n_ctx(n_ctx_),
        pool(opt_.n_threads),
        kv(model.hparams().n_layer, n_ctx_, model.hparams().n_head_kv, model.hparams().head_dim, to_ops(opt_.kv_dtype)),
        buf(model, std::min(kMaxMicroBatch, n_ctx_), n_ctx_, opt_.n_threads),
        logits(static_cast<size_t>(model.hparams().n_vocab)) {
    buf.matmul.f32_activations = opt_.f32_activations;
  }

  const LoadedModel& lm;
  const model::Model& model;
  SessionOptions opt;
  int32_t n_ctx;
  ThreadPool pool;
  KvCache kv;
  model::ForwardBuffers buf;
  std::vector<float> logits;  // [n_rows, n_vocab]; grows for all_logits prefills only
  int32_t n_past = 0;
  model::ForwardTrace trace;

  void check_token(TokenId t) const {
    if (t < 0 || t >= model.hparams().n_vocab) {
      fail("token id " + std::to_string(t) + " out of range [0, " + std::to_string(model.hparams().n_vocab) + ")");
    }
  }
};

namespace {
int32_t resolve_ctx(const LoadedModel& lm, const SessionOptions& opt) {
  if (opt.n_threads < 1) fail("n_threads must be >= 1, got " + std::to_string(opt.n_threads));
  if (opt.n_ctx < 0) fail("context size must be >= 0 (0: the model's), got " + std::to_string(opt.n_ctx));
  if (opt.n_ctx > (1 << 20)) fail("context size " + std::to_string(opt.n_ctx) + " is too large (max 1048576)");
  if (opt.n_ctx > 0) return opt.n_ctx;
  return std::min(lm.model->hparams().n_ctx_train, kDefaultCtxCap);
}
}  // namespace

Session::Session(const LoadedModel& model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(model, options, resolve_ctx(model, options))) {}

Session::~Session() = default;

int32_t Session::n_ctx() const { return impl_->n_ctx; }
int32_t Session::n_past() const { return impl_->n_past; }
int32_t Session::n_vocab() const { return impl_->model.hparams().n_vocab; }

void Session::reset() { impl_->n_past = 0; }

void Session::set_trace(Trace trace) { impl_->trace = std::move(trace); }

const float* Session::prefill(std::span<const TokenId> tokens, bool all_logits) {
  Impl& s = *impl_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) fail("prefill of an empty token list");
  if (s.n_past + n > s.n_ctx) {
    fail("prompt of " + std::to_string(n) + " tokens at position " + std::to_string(s.n_past) +
         " does not fit the context size " + std::to_string(s.n_ctx) + " (use a larger -c/--ctx-size)");
  }
  for (TokenId t : tokens) s.check_token(t);
  const int64_t n_vocab = s.model.hparams().n_vocab;
  const size_t need = static_cast<size_t>((all_logits ? n : 1) * n_vocab);
  if (s.logits.size() < need) s.logits.resize(need);

  for (int64_t start = 0; start < n; start += s.buf.max_batch) {
    const int32_t cnt = static_cast<int32_t>(std::min<int64_t>(s.buf.max_batch, n - start));
    const bool last = start + cnt == n;
    model::ForwardArgs a;
    a.phase = model::Phase::Prefill;
    a.kv_aligned = s.opt.kv_aligned;
    a.tokens = tokens.data() + start;
    a.n = cnt;
    a.pos0 = s.n_past;
    a.logits_first = all_logits ? 0 : (last ? cnt - 1 : cnt);
    a.logits = s.logits.data() + (all_logits ? start * n_vocab : 0);
    a.trace = s.trace ? &s.trace : nullptr;
    model::forward(s.model, s.buf, s.kv.layers(), a, s.pool);
    s.n_past += cnt;
  }
  return s.logits.data();
}

const float* Session::decode(TokenId token) {
  Impl& s = *impl_;
  if (s.n_past + 1 > s.n_ctx) {
    fail("decode at position " + std::to_string(s.n_past) + " exceeds the context size " + std::to_string(s.n_ctx));
  }
  s.check_token(token);
  model::ForwardArgs a;
  a.phase = model::Phase::Decode;
  a.kv_aligned = s.opt.kv_aligned;
  a.tokens = &token;
  a.n = 1;
  a.pos0 = s.n_past;
  a.logits_first = 0;
  a.logits = s.logits.data();
  a.trace = s.trace ? &s.trace : nullptr;
  model::forward(s.model, s.buf, s.kv.layers(), a, s.pool);
  s.n_past += 1;
  return s.logits.data();
}

}  // namespace greta
