#include "greta/runtime/context.h"

#include <algorithm>
#include <map>

#include "greta/core/error.h"
#include "greta/model/model.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/kv_pool.h"

namespace greta {
namespace {

using backend::kKvBlock;

int32_t blocks_for(int64_t positions) { return static_cast<int32_t>((positions + kKvBlock - 1) / kKvBlock); }

int32_t resolve_ctx(const LoadedModel& lm, const ContextOptions& opt) {
  if (opt.n_threads < 1) fail("n_threads must be >= 1, got " + std::to_string(opt.n_threads));
  if (opt.n_ctx < 0) fail("context size must be >= 0 (0: the model's), got " + std::to_string(opt.n_ctx));
  if (opt.n_ctx > (1 << 20)) fail("context size " + std::to_string(opt.n_ctx) + " is too large (max 1048576)");
  if (opt.n_seq_max < 1) fail("n_seq_max must be >= 1, got " + std::to_string(opt.n_seq_max));
  if (opt.kv_blocks < 0) fail("kv_blocks must be >= 0, got " + std::to_string(opt.kv_blocks));
  if (opt.max_batch < 1) fail("max_batch must be >= 1, got " + std::to_string(opt.max_batch));
  if (opt.n_ctx > 0) return opt.n_ctx;
  return std::min(lm.model->hparams().n_ctx_train, kDefaultCtxCap);
}

struct Sequence {
  std::vector<int32_t> blocks;  // block table, position order
  int32_t len = 0;              // positions in the cache
};

}  // namespace

struct Context::Impl {
  const LoadedModel& lm;
  const model::Model& model;
  const model::HParams& hp;
  ContextOptions opt;
  int32_t n_ctx;
  int32_t table_stride;  // blocks per sequence at most
  std::unique_ptr<backend::Backend> be;
  model::Weights weights;  // the model's views with this backend's handles
  model::ActBuffers buf;
  KvPool pool;
  int64_t bytes_per_block;
  std::map<SeqId, Sequence> seqs;
  SeqId next_id = 0;
  std::vector<float> logits;  // [n_wanted, n_vocab]
  Trace trace;

  // Per micro-batch metadata (reused).
  std::vector<int32_t> tokens, pos, row_table, tables, fresh_row0, out_rows;

  Impl(const LoadedModel& lm_, const ContextOptions& o)
      : lm(lm_),
        model(*lm_.model),
        hp(lm_.model->hparams()),
        opt(o),
        n_ctx(resolve_ctx(lm_, o)),
        table_stride(blocks_for(n_ctx)),
        pool(o.kv_blocks > 0 ? o.kv_blocks : o.n_seq_max * blocks_for(n_ctx)) {
    be = create_backend(opt.backend, backend::BackendOptions{opt.n_threads, opt.f32_activations});
    weights = model.weights();
    for_each_weight(model.arch(), weights, hp.n_layer, [&](const model::TensorSpec& s, int32_t il, backend::Weight& w) {
      if (w.present()) be->upload(w, model::tensor_name(s, il));
    });
    if (weights.tied_output) weights.output = weights.tok_embd;
    const int32_t max_rows = std::min(opt.max_batch, std::max(n_ctx, 1));
    buf = model::ActBuffers::alloc(*be, hp, max_rows);
    const backend::KvSpec kv{hp.n_layer, pool.n_blocks(), hp.n_head_kv, hp.head_dim, opt.kv_dtype};
    bytes_per_block = kv.bytes() / kv.n_blocks;
    be->kv_init(kv);
    be->rope_init(backend::RopeParams{hp.rope_type, hp.n_rot, hp.rope_freq_base, hp.rope_freq_scale,
                                      weights.rope_freqs.present() ? weights.rope_freqs.host.f32() : nullptr},
                  n_ctx);
  }

  Sequence& seq(SeqId id) {
    auto it = seqs.find(id);
    if (it == seqs.end()) fail("unknown sequence " + std::to_string(id));
    return it->second;
  }
  const Sequence& seq(SeqId id) const { return const_cast<Impl*>(this)->seq(id); }

  void validate(std::span<const BatchRow> rows) const;
  void prepare_blocks(std::span<const BatchRow> rows);
  // samples: this micro-batch's, rows relative to its first output row; ids: theirs.
  void run_micro_batch(std::span<const BatchRow> rows, float* logits_out, std::span<const backend::SampleRow> samples,
                       int32_t* ids);
};

void Context::Impl::validate(std::span<const BatchRow> rows) const {
  if (rows.empty()) fail("empty batch");
  std::map<SeqId, int32_t> next;  // next expected position per sequence
  for (size_t i = 0; i < rows.size(); ++i) {
    const BatchRow& r = rows[i];
    const std::string where = "batch row " + std::to_string(i) + ": ";
    auto it = seqs.find(r.seq);
    if (it == seqs.end()) fail(where + "unknown sequence " + std::to_string(r.seq));
    if (r.token < 0 || r.token >= hp.n_vocab) {
      fail(where + "token id " + std::to_string(r.token) + " out of range [0, " + std::to_string(hp.n_vocab) + ")");
    }
    auto [n, inserted] = next.try_emplace(r.seq, it->second.len);
    if (r.pos != n->second) {
      fail(where + "position " + std::to_string(r.pos) + " does not continue sequence " + std::to_string(r.seq) +
           " (expected position " + std::to_string(n->second) + ")");
    }
    if (r.pos >= n_ctx) {
      fail(where + "position " + std::to_string(r.pos) + " of sequence " + std::to_string(r.seq) +
           " exceeds the context size " + std::to_string(n_ctx));
    }
    n->second += 1;
  }
  // Blocks: new ones past each sequence's table, plus a copy of a shared last block written into.
  int64_t needed = 0;
  for (const auto& [id, end] : next) {
    const Sequence& s = seqs.at(id);
    needed += blocks_for(end) - static_cast<int64_t>(s.blocks.size());
    if (s.len % kKvBlock != 0 && pool.refcount(s.blocks[static_cast<size_t>(s.len / kKvBlock)]) > 1) needed += 1;
  }
  if (needed > pool.n_free()) {
    fail("KV pool exhausted: the batch needs " + std::to_string(needed) + " more blocks of " +
         std::to_string(kKvBlock) + " positions, " + std::to_string(pool.n_free()) + " of " +
         std::to_string(pool.n_blocks()) + " are free");
  }
}

void Context::Impl::prepare_blocks(std::span<const BatchRow> rows) {
  std::map<SeqId, int32_t> end;
  for (const BatchRow& r : rows) end[r.seq] = r.pos + 1;
  for (const auto& [id, e] : end) {
    Sequence& s = seqs.at(id);
    if (s.len % kKvBlock != 0) {
      int32_t& last = s.blocks[static_cast<size_t>(s.len / kKvBlock)];
      if (pool.refcount(last) > 1) {  // copy-on-write of the shared block this batch writes into
        const int32_t copy = pool.alloc();
        be->kv_copy_block(last, copy);
        pool.release(last);
        last = copy;
      }
    }
    while (static_cast<int32_t>(s.blocks.size()) < blocks_for(e)) s.blocks.push_back(pool.alloc());
  }
}

void Context::Impl::run_micro_batch(std::span<const BatchRow> rows, float* logits_out,
                                    std::span<const backend::SampleRow> samples, int32_t* ids) {
  const int32_t n = static_cast<int32_t>(rows.size());
  tokens.resize(n);
  pos.resize(n);
  row_table.resize(n);
  out_rows.clear();
  std::map<SeqId, int32_t> table_of;
  tables.clear();
  for (int32_t r = 0; r < n; ++r) {
    const BatchRow& b = rows[static_cast<size_t>(r)];
    tokens[r] = b.token;
    pos[r] = b.pos;
    auto [it, inserted] = table_of.try_emplace(b.seq, static_cast<int32_t>(table_of.size()));
    if (inserted) {
      const Sequence& s = seqs.at(b.seq);
      const size_t t0 = tables.size();
      tables.resize(t0 + static_cast<size_t>(table_stride), 0);
      std::copy(s.blocks.begin(), s.blocks.end(), tables.begin() + static_cast<ptrdiff_t>(t0));
    }
    row_table[r] = it->second;
    if (b.logits) out_rows.push_back(r);
  }
  // kv_aligned = 0 with a rounding cache: each run of consecutive rows of one sequence attends
  // to its own fresh f32 K/V (faster and more precise, but then a prefill chunk and a decode
  // step see different K/V).
  const bool fresh = !opt.kv_aligned && opt.kv_dtype != KvDtype::F32;
  fresh_row0.clear();
  if (fresh) {
    fresh_row0.resize(n);
    for (int32_t r = 0; r < n; ++r) {
      const bool continues = r > 0 && rows[r].seq == rows[r - 1].seq && rows[r].pos == rows[r - 1].pos + 1;
      fresh_row0[r] = continues ? fresh_row0[r - 1] : r;
    }
  }
  backend::BatchRows b;
  b.n_rows = n;
  b.tokens = tokens.data();
  b.pos = pos.data();
  b.seq = row_table.data();
  b.block_tables = tables.data();
  b.n_tables = static_cast<int32_t>(table_of.size());
  b.table_stride = table_stride;
  b.fresh_row0 = fresh ? fresh_row0.data() : nullptr;
  b.out_rows = out_rows.data();
  b.n_out = static_cast<int32_t>(out_rows.size());
  be->set_batch(b);
  const model::ForwardTrace* tr = trace ? &trace : nullptr;
  const model::GraphArgs g{*be, hp, weights, buf, n, b.n_out, tr};
  be->run_step(backend::StepKey{n, b.n_out, fresh, tr == nullptr}, [&] { model.arch().forward(g); });
  if (!samples.empty()) be->sample(buf.logits.first(b.n_out), samples, ids);
  // The output rows the host asked for, in runs of consecutive rows.
  int32_t o = 0;
  for (int32_t r = 0; r < n;) {
    const BatchRow& row = rows[static_cast<size_t>(r)];
    if (!row.logits || !row.host_logits) {
      o += row.logits ? 1 : 0;
      ++r;
      continue;
    }
    const int32_t o0 = o;
    while (r < n && rows[static_cast<size_t>(r)].logits && rows[static_cast<size_t>(r)].host_logits) {
      ++o;
      ++r;
    }
    be->read(buf.logits.slice(o0, o - o0), logits_out + int64_t{o0} * hp.n_vocab);
  }
}

Context::Context(const LoadedModel& model, const ContextOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {}
Context::~Context() = default;

int32_t Context::n_ctx() const { return impl_->n_ctx; }
int32_t Context::n_vocab() const { return impl_->hp.n_vocab; }
const ContextOptions& Context::options() const { return impl_->opt; }
std::string Context::backend_description() const { return impl_->be->describe(); }
std::string Context::backend_simd_target() const { return impl_->be->simd_target(); }

SeqId Context::seq_add() {
  const SeqId id = impl_->next_id++;
  impl_->seqs.emplace(id, Sequence{});
  return id;
}

void Context::seq_remove(SeqId id) {
  Sequence& s = impl_->seq(id);
  for (int32_t b : s.blocks) impl_->pool.release(b);
  impl_->seqs.erase(id);
}

SeqId Context::seq_fork(SeqId src) {
  const Sequence copy = impl_->seq(src);
  for (int32_t b : copy.blocks) impl_->pool.retain(b);
  const SeqId id = impl_->next_id++;
  impl_->seqs.emplace(id, copy);
  return id;
}

bool Context::seq_exists(SeqId id) const { return impl_->seqs.count(id) != 0; }
int32_t Context::seq_len(SeqId id) const { return impl_->seq(id).len; }
std::vector<int32_t> Context::seq_blocks(SeqId id) const { return impl_->seq(id).blocks; }

KvStats Context::kv_stats() const {
  const KvPool& p = impl_->pool;
  return KvStats{kKvBlock, p.n_blocks(), p.n_used(), p.n_free(), impl_->bytes_per_block};
}

void Context::set_trace(Trace trace) { impl_->trace = std::move(trace); }

const float* Context::decode(std::span<const BatchRow> rows) { return decode(rows, {}, nullptr); }

const float* Context::decode(std::span<const BatchRow> rows, std::span<const RowSample> samples, TokenId* ids) {
  Impl& c = *impl_;
  c.validate(rows);
  int64_t n_wanted = 0;
  for (const BatchRow& r : rows) n_wanted += r.logits ? 1 : 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].out < 0 || samples[i].out >= n_wanted) {
      fail("sample " + std::to_string(i) + ": output row " + std::to_string(samples[i].out) + " out of range [0, " +
           std::to_string(n_wanted) + ")");
    }
  }
  c.prepare_blocks(rows);
  const size_t need = static_cast<size_t>(n_wanted) * static_cast<size_t>(c.hp.n_vocab);
  if (c.logits.size() < need) c.logits.resize(need);
  GRETA_ASSERT(samples.empty() || ids != nullptr);
  float* out = c.logits.data();
  int32_t out0 = 0;  // the micro-batch's first output row
  std::vector<backend::SampleRow> mb_samples;
  std::vector<size_t> mb_index;
  std::vector<int32_t> mb_ids;
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(c.buf.max_rows)) {
    const auto mb = rows.subspan(start, std::min(rows.size() - start, static_cast<size_t>(c.buf.max_rows)));
    int32_t n_out = 0;
    for (const BatchRow& r : mb) n_out += r.logits ? 1 : 0;
    mb_samples.clear();
    mb_index.clear();
    for (size_t i = 0; i < samples.size(); ++i) {
      if (samples[i].out >= out0 && samples[i].out < out0 + n_out) {
        mb_samples.push_back({samples[i].out - out0, samples[i].params, samples[i].u});
        mb_index.push_back(i);
      }
    }
    mb_ids.assign(mb_samples.size(), 0);
    c.run_micro_batch(mb, out, mb_samples, mb_ids.data());
    for (size_t j = 0; j < mb_index.size(); ++j) ids[mb_index[j]] = mb_ids[j];
    out += int64_t{n_out} * c.hp.n_vocab;
    out0 += n_out;
  }
  for (const BatchRow& r : rows) c.seq(r.seq).len = r.pos + 1;
  return c.logits.data();
}

}  // namespace greta
