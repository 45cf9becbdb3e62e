#include "greta/model/model.h"

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta::model {
namespace {
int64_t elems(const cpu::WeightMatrix& m) { return m.data ? m.rows * m.cols : 0; }
}  // namespace

std::unique_ptr<Model> Model::load(const gguf::GgufFile& file) {
  auto m = std::unique_ptr<Model>(new Model());
  m->hp_ = hparams_from_gguf(file);
  m->w_ = bind_weights(file, m->hp_);
  return m;
}

int64_t Model::n_params() const {
  const HParams& hp = hp_;
  int64_t n = elems(w_.tok_embd) + hp.n_embd + (w_.tied_output ? 0 : elems(w_.output));
  for (const LayerWeights& l : w_.layers) {
    n += 2 * int64_t{hp.n_embd} + elems(l.wq) + elems(l.wk) + elems(l.wv) + elems(l.wo) + elems(l.ffn_gate) +
         elems(l.ffn_up) + elems(l.ffn_down);
    if (l.bq) n += hp.n_embd_q() + 2 * int64_t{hp.n_embd_kv()};
  }
  return n;
}

int64_t Model::weight_bytes_per_token() const {
  const HParams& hp = hp_;
  int64_t b = cpu::matmul_weight_bytes(w_.output) + 4 * int64_t{hp.n_embd};
  for (const LayerWeights& l : w_.layers) {
    b += 8 * int64_t{hp.n_embd};
    for (const cpu::WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      b += cpu::matmul_weight_bytes(*m);
    }
    if (l.bq) b += 4 * (int64_t{hp.n_embd_q()} + 2 * hp.n_embd_kv());
  }
  return b;
}

}  // namespace greta::model
