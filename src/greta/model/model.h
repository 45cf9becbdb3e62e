#pragma once
// A loaded llama-family model: hyperparameters and weights bound in place in the mapped file.

#include <memory>

#include "greta/model/hparams.h"
#include "greta/model/weights.h"

namespace greta::gguf { class GgufFile; }

namespace greta::model {

class Model {
 public:
  // Reads hyperparameters and binds weights. `file` must outlive the Model. Throws greta::Error.
  static std::unique_ptr<Model> load(const gguf::GgufFile& file);

  const HParams& hparams() const { return hp_; }
  const Weights& weights() const { return w_; }

  // Parameters (elements of every bound tensor; a tied output counted once).
  int64_t n_params() const;
  // Weight bytes read by one decode step: every matrix and vector except the embedding table
  // (the output projection counts, even when it is the tied embedding table).
  int64_t weight_bytes_per_token() const;

 private:
  HParams hp_;
  Weights w_;
};

}  // namespace greta::model
