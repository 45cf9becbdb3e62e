// Hyperparameters and weight binding from GGUF metadata built in memory.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/model/hparams.h"
#include "greta/model/model.h"

namespace greta::model {
namespace {

void add_required(gguf::GgufWriter& w, const std::string& arch) {
  w.add_string("general.architecture", arch);
  w.add_u32(arch + ".context_length", 256);
  w.add_u32(arch + ".embedding_length", 64);
  w.add_u32(arch + ".block_count", 1);
  w.add_u32(arch + ".feed_forward_length", 96);
  w.add_u32(arch + ".attention.head_count", 4);
}

std::unique_ptr<gguf::GgufFile> open(const gguf::GgufWriter& w) {
  const auto bytes = w.to_bytes();
  return gguf::GgufFile::from_bytes(bytes.data(), bytes.size());
}

std::string error_of(const gguf::GgufWriter& w) {
  try {
    hparams_from_gguf(*open(w));
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(HParams, LlamaCppDefaultsWhenKeysAreAbsent) {
  gguf::GgufWriter w;
  add_required(w, "llama");
  const HParams hp = hparams_from_gguf(*open(w));
  EXPECT_STREQ(hp.arch_name(), "llama");
  EXPECT_EQ(hp.n_head_kv, 4);
  EXPECT_EQ(hp.head_dim, 16);
  EXPECT_EQ(hp.n_rot, 16);
  EXPECT_EQ(hp.rope_type, backend::RopeType::Normal);
  EXPECT_EQ(hp.rope_freq_base, 10000.0f);
  EXPECT_EQ(hp.rope_freq_scale, 1.0f);
  EXPECT_EQ(hp.rms_eps, 1e-5f);
  EXPECT_EQ(hp.n_ctx_train, 256);
}

TEST(HParams, Qwen2UsesNeoxAndExplicitKeys) {
  gguf::GgufWriter w;
  add_required(w, "qwen2");
  w.add_u32("qwen2.attention.head_count_kv", 2);
  w.add_u32("qwen2.rope.dimension_count", 8);
  w.add_f32("qwen2.rope.freq_base", 1000000.0f);
  w.add_f32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
  w.add_string("qwen2.rope.scaling.type", "linear");
  w.add_f32("qwen2.rope.scaling.factor", 4.0f);
  const HParams hp = hparams_from_gguf(*open(w));
  EXPECT_STREQ(hp.arch_name(), "qwen2");
  EXPECT_EQ(hp.rope_type, backend::RopeType::NeoX);
  EXPECT_EQ(hp.n_head_kv, 2);
  EXPECT_EQ(hp.n_embd_kv(), 32);
  EXPECT_EQ(hp.n_rot, 8);
  EXPECT_EQ(hp.rope_freq_base, 1000000.0f);
  EXPECT_EQ(hp.rms_eps, 1e-6f);
  EXPECT_EQ(hp.rope_freq_scale, 0.25f);
}

TEST(HParams, ClearErrors) {
  {
    gguf::GgufWriter w;
    add_required(w, "gpt2");
    EXPECT_NE(error_of(w).find("unsupported architecture 'gpt2'"), std::string::npos) << error_of(w);
  }
  {
    gguf::GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.context_length", 256);
    EXPECT_NE(error_of(w).find("llama.embedding_length"), std::string::npos) << error_of(w);
  }
  {
    gguf::GgufWriter w;
    add_required(w, "llama");
    w.add_u32("llama.attention.head_count_kv", 3);
    EXPECT_NE(error_of(w).find("must divide"), std::string::npos) << error_of(w);
  }
  {
    gguf::GgufWriter w;
    add_required(w, "llama");
    w.add_string("llama.rope.scaling.type", "yarn");
    EXPECT_NE(error_of(w).find("'yarn' is not supported"), std::string::npos) << error_of(w);
  }
  {
    gguf::GgufWriter w;
    add_required(w, "llama");
    w.add_u32("llama.rope.dimension_count", 17);
    EXPECT_NE(error_of(w).find("rope.dimension_count"), std::string::npos) << error_of(w);
  }
}

// A complete one-layer llama in memory (all f32 zeros), with optional edits.
struct Tensors {
  std::vector<float> zeros = std::vector<float>(64 * 512, 0.0f);
  bool with_output = true;
  bool f16_norm = false;
  bool rope_freqs = false;
};

std::unique_ptr<gguf::GgufFile> tiny_file(const Tensors& t) {
  gguf::GgufWriter w;
  add_required(w, "llama");
  const void* z = t.zeros.data();
  w.add_tensor("token_embd.weight", TensorType::F32, {64, 100}, z);
  w.add_tensor("output_norm.weight", TensorType::F32, {64}, z);
  if (t.with_output) w.add_tensor("output.weight", TensorType::F32, {64, 100}, z);
  if (t.rope_freqs) w.add_tensor("rope_freqs.weight", TensorType::F32, {8}, z);
  w.add_tensor("blk.0.attn_norm.weight", t.f16_norm ? TensorType::F16 : TensorType::F32, {64}, z);
  w.add_tensor("blk.0.attn_q.weight", TensorType::F32, {64, 64}, z);
  w.add_tensor("blk.0.attn_k.weight", TensorType::F32, {64, 64}, z);
  w.add_tensor("blk.0.attn_v.weight", TensorType::F32, {64, 64}, z);
  w.add_tensor("blk.0.attn_output.weight", TensorType::F32, {64, 64}, z);
  w.add_tensor("blk.0.ffn_norm.weight", TensorType::F32, {64}, z);
  w.add_tensor("blk.0.ffn_gate.weight", TensorType::F32, {64, 96}, z);
  w.add_tensor("blk.0.ffn_up.weight", TensorType::F32, {64, 96}, z);
  w.add_tensor("blk.0.ffn_down.weight", TensorType::F32, {96, 64}, z);
  const auto bytes = w.to_bytes();
  return gguf::GgufFile::from_bytes(bytes.data(), bytes.size());
}

TEST(Weights, TiedOutputRopeFreqsAndTypeErrors) {
  {
    Tensors t;
    t.with_output = false;
    t.rope_freqs = true;
    const auto f = tiny_file(t);
    const auto m = Model::load(*f);
    EXPECT_TRUE(m->weights().tied_output);
    EXPECT_EQ(m->weights().output.host.data, m->weights().tok_embd.host.data);
    EXPECT_TRUE(m->weights().rope_freqs.present());
    EXPECT_EQ(m->hparams().n_vocab, 100);
    EXPECT_GT(m->n_params(), 0);
    EXPECT_GT(m->weight_bytes_per_token(), 0);
  }
  {
    Tensors t;
    t.f16_norm = true;
    const auto f = tiny_file(t);
    try {
      Model::load(*f);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("tensor 'blk.0.attn_norm.weight' has type f16, expected f32"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace greta::model
