#pragma once
// A loaded model: hyperparameters and weights bound in place in the mapped file, through the
// architecture's tensor table.

#include <memory>
#include <string>

#include "greta/model/arch/arch.h"
#include "greta/model/hparams.h"
#include "greta/model/weights.h"

namespace greta::gguf { class GgufFile; }

namespace greta::model {

class Model {
 public:
  // Reads hyperparameters and binds weights. `file` must outlive the Model. Throws greta::Error
  // naming a missing tensor, or a mis-shaped/mis-typed one with both shapes.
  static std::unique_ptr<Model> load(const gguf::GgufFile& file);

  const HParams& hparams() const { return hp_; }
  const ArchInfo& arch() const { return *hp_.arch; }
  const Weights& weights() const { return w_; }  // host views; backend handles are per context

  // Parameters (elements of every bound tensor; a tied output counted once).
  int64_t n_params() const;
  // Weight bytes read by one decode step: every tensor the table marks read_per_token (all but
  // the embedding table; the output projection counts, even when it is the tied table).
  int64_t weight_bytes_per_token() const;
  // The dominant matrix type by bytes, e.g. "q8_0", or "mixed: q4_K+q6_K" (token_embd excluded).
  std::string weights_type() const;

 private:
  HParams hp_;
  Weights w_;
};

}  // namespace greta::model
