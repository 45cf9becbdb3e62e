#include "greta/runtime/session.h"

#include <algorithm>
#include <string>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/model/model.h"

namespace greta {

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
  s.arch = hp.arch_name();
  s.weights_type = lm->model->weights_type();
  s.n_params = lm->model->n_params();
  s.weight_bytes_per_token = lm->model->weight_bytes_per_token();
  s.n_vocab = hp.n_vocab;
  s.n_ctx_train = hp.n_ctx_train;
  s.n_layer = hp.n_layer;
  s.n_embd = hp.n_embd;
  return lm;
}

namespace {
ContextOptions context_options(const SessionOptions& o) {
  ContextOptions c;
  c.backend = o.backend;
  c.n_ctx = o.n_ctx;
  c.n_seq_max = 1;
  c.kv_dtype = o.kv_dtype;
  c.kv_aligned = o.kv_aligned;
  c.n_threads = o.n_threads;
  c.f32_activations = o.f32_activations;
  return c;
}
}  // namespace

Session::Session(const LoadedModel& model, const SessionOptions& options)
    : ctx_(model, context_options(options)), seq_(ctx_.seq_add()) {}

Session::~Session() = default;

int32_t Session::n_ctx() const { return ctx_.n_ctx(); }
int32_t Session::n_past() const { return ctx_.seq_len(seq_); }
int32_t Session::n_vocab() const { return ctx_.n_vocab(); }
std::string Session::backend_description() const { return ctx_.backend_description(); }
std::string Session::backend_simd_target() const { return ctx_.backend_simd_target(); }

void Session::reset() {
  ctx_.seq_remove(seq_);
  seq_ = ctx_.seq_add();
}

void Session::set_trace(Trace trace) { ctx_.set_trace(std::move(trace)); }

void Session::check_prefill(std::span<const TokenId> tokens) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int32_t past = n_past();
  if (n == 0) fail("prefill of an empty token list");
  if (past + n > n_ctx()) {
    fail("prompt of " + std::to_string(n) + " tokens at position " + std::to_string(past) +
         " does not fit the context size " + std::to_string(n_ctx()) + " (use a larger -c/--ctx-size)");
  }
  for (TokenId t : tokens) {
    if (t < 0 || t >= n_vocab()) {
      fail("token id " + std::to_string(t) + " out of range [0, " + std::to_string(n_vocab()) + ")");
    }
  }
}

void Session::check_decode(TokenId token) const {
  const int32_t past = n_past();
  if (past + 1 > n_ctx()) {
    fail("decode at position " + std::to_string(past) + " exceeds the context size " + std::to_string(n_ctx()));
  }
  if (token < 0 || token >= n_vocab()) {
    fail("token id " + std::to_string(token) + " out of range [0, " + std::to_string(n_vocab()) + ")");
  }
}

const float* Session::prefill(std::span<const TokenId> tokens, bool all_logits) {
  check_prefill(tokens);
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int32_t past = n_past();
  rows_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    rows_[i] = BatchRow{seq_, past + static_cast<int32_t>(i), tokens[i], all_logits || i == n - 1};
  }
  return ctx_.decode(rows_);
}

const float* Session::decode(TokenId token) {
  check_decode(token);
  const BatchRow row{seq_, n_past(), token, true};
  return ctx_.decode(std::span<const BatchRow>(&row, 1));
}

Session::Sampled Session::run_sampled(bool host_logits, Sampler* sampler) {
  // rows_ holds the batch; its last row is an output row.
  int32_t n_out = 0;
  for (const BatchRow& r : rows_) n_out += r.logits ? 1 : 0;
  Sampled out;
  if (sampler == nullptr) {
    out.logits = ctx_.decode(rows_, {}, nullptr);
  } else {
    const RowSample s{n_out - 1, sampler->params(), sampler->peek_draw()};
    TokenId id = -1;
    out.logits = ctx_.decode(rows_, std::span<const RowSample>(&s, 1), &id);
    sampler->skip_draw();
    out.token = id;
  }
  if (!host_logits) out.logits = nullptr;
  return out;
}

Session::Sampled Session::prefill_sample(std::span<const TokenId> tokens, bool all_logits, bool last_logits,
                                         Sampler* sampler) {
  check_prefill(tokens);
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int32_t past = n_past();
  rows_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const bool last = i == n - 1;
    BatchRow& r = rows_[static_cast<size_t>(i)];
    r = BatchRow{seq_, past + static_cast<int32_t>(i), tokens[i], all_logits || last};
    r.host_logits = all_logits || (last && last_logits);
  }
  return run_sampled(all_logits || last_logits, sampler);
}

Session::Sampled Session::decode_sample(TokenId token, bool logits, Sampler* sampler) {
  check_decode(token);
  rows_.assign(1, BatchRow{seq_, n_past(), token, true});
  rows_[0].host_logits = logits;
  return run_sampled(logits, sampler);
}

}  // namespace greta
