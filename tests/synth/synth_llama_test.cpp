// Synthetic llama models: shapes, metadata, finite and bounded weights, determinism, every type,
// the vocabulary copy, option errors, and a float reference forward pass whose activations stay
// bounded through many layers.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/quant/quant.h"
#include "greta/synth/synth_llama.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::TensorInfo;
using gguf::ValueType;

class SynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("greta_synth_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(TensorType type, uint64_t seed, const std::string& name, int threads = 2,
                    std::optional<TensorType> output_type = std::nullopt) {
    SynthOptions o;
    o.preset = "tiny";
    o.type = type;
    o.output_type = output_type;
    o.shape = synth_preset("tiny", type, output_type);
    o.seed = seed;
    o.n_threads = threads;
    o.out = path(name);
    synth_llama(o);
    return o.out;
  }
  fs::path dir_;
};

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Row r of a tensor as f32.
std::vector<float> row_f32(const TensorInfo& t, int64_t r) {
  std::vector<float> out(static_cast<size_t>(t.ne[0]));
  dequantize_row(t.type, t.data + r * t.row_bytes(), out.data(), t.ne[0]);
  return out;
}

TEST_F(SynthTest, TinyQ8ShapesAndMetadata) {
  auto f = GgufFile::open(write(TensorType::Q8_0, 7, "tiny.gguf"));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_string("general.name"), "greta-synth-tiny");
  EXPECT_EQ(f->get_u32("general.file_type"), 7u);
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(f->get_u32("llama.block_count"), 2u);
  EXPECT_EQ(f->get_u32("llama.feed_forward_length"), 192u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count"), 4u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(f->get_u32("llama.context_length"), 512u);
  EXPECT_EQ(f->get_u32("llama.rope.dimension_count"), 16u);
  EXPECT_EQ(f->get_f32("llama.rope.freq_base"), 10000.0f);
  EXPECT_EQ(f->get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  const auto& tokens = f->get_array("tokenizer.ggml.tokens", ValueType::STRING);
  ASSERT_EQ(tokens.size, 512u);
  EXPECT_EQ(tokens.strings[0], "<unk>");
  EXPECT_EQ(tokens.strings[1], "<s>");
  EXPECT_EQ(tokens.strings[2], "</s>");
  EXPECT_EQ(tokens.strings[3], "<0x00>");
  EXPECT_EQ(tokens.strings[258], "<0xFF>");
  EXPECT_EQ(tokens.strings[259], "a");
  EXPECT_EQ(tokens.strings[260], "\xE2\x96\x81" "a");
  const auto& types = f->get_array("tokenizer.ggml.token_type", ValueType::I32);
  EXPECT_EQ(types.get_int(0), 2);
  EXPECT_EQ(types.get_int(1), 3);
  EXPECT_EQ(types.get_int(100), 6);
  EXPECT_EQ(types.get_int(300), 1);
  EXPECT_EQ(f->get_array("tokenizer.ggml.scores", ValueType::F32).size, 512u);
  EXPECT_EQ(f->get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(f->get_u32("tokenizer.ggml.eos_token_id"), 2u);

  ASSERT_EQ(f->tensors().size(), 1u + 2u * 9u + 2u);
  auto shape = [&](const char* name) {
    const TensorInfo* t = f->find_tensor(name);
    return t ? std::string(tensor_type_name(t->type)) + " " + t->shape_string() : std::string("missing");
  };
  EXPECT_EQ(shape("token_embd.weight"), "q8_0 [64, 512]");
  EXPECT_EQ(shape("blk.1.attn_norm.weight"), "f32 [64]");
  EXPECT_EQ(shape("blk.1.attn_q.weight"), "q8_0 [64, 64]");
  EXPECT_EQ(shape("blk.1.attn_k.weight"), "q8_0 [64, 32]");
  EXPECT_EQ(shape("blk.1.attn_v.weight"), "q8_0 [64, 32]");
  EXPECT_EQ(shape("blk.1.attn_output.weight"), "q8_0 [64, 64]");
  EXPECT_EQ(shape("blk.1.ffn_norm.weight"), "f32 [64]");
  EXPECT_EQ(shape("blk.1.ffn_gate.weight"), "q8_0 [64, 192]");
  EXPECT_EQ(shape("blk.1.ffn_up.weight"), "q8_0 [64, 192]");
  EXPECT_EQ(shape("blk.1.ffn_down.weight"), "q8_0 [192, 64]");
  EXPECT_EQ(shape("output_norm.weight"), "f32 [64]");
  EXPECT_EQ(shape("output.weight"), "q8_0 [64, 512]");
  EXPECT_EQ(f->find_tensor("blk.2.attn_q.weight"), nullptr);

  // Norms are exactly 1; matrices are finite, within the amplitude, with about the intended std.
  for (const TensorInfo& t : f->tensors()) {
    double sum2 = 0;
    float amax = 0;
    for (int64_t r = 0; r < t.n_rows(); ++r) {
      for (float v : row_f32(t, r)) {
        ASSERT_TRUE(std::isfinite(v)) << t.name;
        if (t.n_dims == 1) {
          ASSERT_EQ(v, 1.0f) << t.name;
        }
        sum2 += double(v) * v;
        amax = std::max(amax, std::fabs(v));
      }
    }
    if (t.n_dims == 1 || t.name == "token_embd.weight") continue;
    const double std_target = 0.5 / std::sqrt(double(t.ne[0]));
    const double std_got = std::sqrt(sum2 / double(t.n_elements()));
    EXPECT_NEAR(std_got, std_target, 0.05 * std_target) << t.name;
    EXPECT_LE(amax, 1.01 * std_target * std::sqrt(3.0)) << t.name;
  }
}

TEST_F(SynthTest, DeterministicForSeedAndThreadCount) {
  const auto a = read_all(write(TensorType::Q4_K, 42, "a.gguf", 1));
  const auto b = read_all(write(TensorType::Q4_K, 42, "b.gguf", 3));
  const auto c = read_all(write(TensorType::Q4_K, 43, "c.gguf", 2));
  ASSERT_GT(a.size(), 100000u);
  EXPECT_TRUE(a == b);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_FALSE(a == c);
  // The generator itself is pinned: changing it changes every synthetic model.
  const uint64_t ts = synth_tensor_seed(0, "token_embd.weight");
  EXPECT_EQ(synth_uniform(ts, 0, 1.0f), synth_uniform(ts, 0, 1.0f));
  EXPECT_NE(synth_uniform(ts, 0, 1.0f), synth_uniform(ts, 1, 1.0f));
  EXPECT_NE(synth_tensor_seed(0, "a"), synth_tensor_seed(1, "a"));
  for (uint64_t i = 0; i < 10000; ++i) {
    const float v = synth_uniform(ts, i, 2.0f);
    ASSERT_GE(v, -2.0f);
    ASSERT_LT(v, 2.0f);
  }
}

TEST_F(SynthTest, EveryTypeLoadsWithFiniteWeights) {
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                       TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
                       TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    const std::string name = std::string(tensor_type_name(t)) + ".gguf";
    auto f = GgufFile::open(write(t, 1, name));
    const bool k = tensor_type_info(t).block_size == 256;
    EXPECT_EQ(f->get_u32("llama.embedding_length"), k ? 256u : 64u) << name;
    EXPECT_EQ(f->get_u32("llama.feed_forward_length"), k ? 512u : 192u) << name;
    EXPECT_EQ(f->get_u32("general.file_type"), synth_file_type(t));
    for (const TensorInfo& ti : f->tensors()) {
      EXPECT_EQ(ti.type, ti.n_dims == 1 ? TensorType::F32 : t) << name << " " << ti.name;
      for (int64_t r = 0; r < ti.n_rows(); r += 7) {
        for (float v : row_f32(ti, r)) ASSERT_TRUE(std::isfinite(v) && std::fabs(v) <= 1.5f) << name << " " << ti.name;
      }
    }
    fs::remove(path(name));
  }
}

TEST_F(SynthTest, OutputTypeAndKQuantTinyShape) {
  auto f = GgufFile::open(write(TensorType::Q8_0, 3, "o.gguf", 2, TensorType::Q6_K));
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 256u);  // q6_K output needs 256-multiples
  EXPECT_EQ(f->find_tensor("output.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(f->find_tensor("blk.0.ffn_down.weight")->shape_string(), "[512, 256]");
}

TEST_F(SynthTest, VocabFromFile) {
  const std::string src = GRETA_SOURCE_DIR "/models/TinyStories-656K-Q8_0.gguf";
  SynthOptions o;
  o.shape = synth_parse_shape("64,1,4,4,128,999");
  o.type = TensorType::F16;
  o.vocab_from = src;
  o.out = path("v.gguf");
  synth_llama(o);
  auto f = GgufFile::open(o.out);
  auto s = GgufFile::open(src);
  EXPECT_EQ(f->find_tensor("token_embd.weight")->shape_string(), "[64, 2048]");
  EXPECT_EQ(f->find_tensor("output.weight")->shape_string(), "[64, 2048]");
  EXPECT_EQ(f->get_u32("llama.vocab_size"), 2048u);
  int n_copied = 0;
  for (const auto& kv : s->metadata()) {
    if (kv.key.substr(0, 10) != "tokenizer.") continue;
    ++n_copied;
    ASSERT_TRUE(f->has(kv.key)) << kv.key;
  }
  EXPECT_EQ(n_copied, 11);
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "default");
  const auto& a = f->get_array("tokenizer.ggml.tokens", ValueType::STRING);
  const auto& b = s->get_array("tokenizer.ggml.tokens", ValueType::STRING);
  EXPECT_EQ(a.strings, b.strings);
  const auto& sa = f->get_array("tokenizer.ggml.scores", ValueType::F32);
  const auto& sb = s->get_array("tokenizer.ggml.scores", ValueType::F32);
  for (uint64_t i = 0; i < sa.size; ++i) ASSERT_EQ(sa.get_float(i), sb.get_float(i));
}

TEST_F(SynthTest, OptionErrors) {
  EXPECT_EQ(error_of([] { synth_preset("huge", TensorType::F32, std::nullopt); }),
            "synth: unknown preset 'huge' (expected tiny, tinyllama-1.1b or llama-7b)");
  for (const char* bad : {"", "1,2,3", "64,2,4,2,192,512,9", "64,2,4,2,192,x", "64,2,4,-2,192,512", "64,,4,2,192,512"}) {
    EXPECT_EQ(error_of([&] { synth_parse_shape(bad); }),
              std::string("synth: --shape '") + bad +
                  "' is invalid (expected dim,layers,heads,kv_heads,ffn,vocab: six positive integers)");
  }
  try {
    synth_parse_shape("x");
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
  auto run = [&](const char* shape, TensorType t) {
    return error_of([&] {
      SynthOptions o;
      o.shape = synth_parse_shape(shape);
      o.type = t;
      o.out = path("e.gguf");
      synth_llama(o);
    });
  };
  EXPECT_EQ(run("64,2,5,5,192,512", TensorType::F32), "synth: dim 64 is not a multiple of heads 5");
  EXPECT_EQ(run("64,2,4,3,192,512", TensorType::F32), "synth: heads 4 is not a multiple of kv_heads 3");
  EXPECT_EQ(run("12,2,4,4,192,512", TensorType::F32), "synth: head size 3 is odd (RoPE needs an even head size)");
  EXPECT_EQ(run("64,2,4,2,192,512", TensorType::Q4_K), "synth: dim 64 is not a multiple of the q4_K block size 256");
  EXPECT_EQ(run("256,2,4,2,320,512", TensorType::Q4_K), "synth: ffn 320 is not a multiple of the q4_K block size 256");
  EXPECT_EQ(run("64,2,4,2,192,100", TensorType::F32),
            "synth: vocab 100 is too small for the built-in vocabulary (expected at least 259)");
  EXPECT_EQ(run("2097152,1,4,2,256,512", TensorType::F32), "synth: dim 2097152 is invalid (expected 1 to 1048576)");
  EXPECT_EQ(run("64,1001,4,2,256,512", TensorType::F32), "synth: layers 1001 is invalid (expected 1 to 1000)");
  EXPECT_EQ(run("64,1,4,2,256,20000000", TensorType::F32), "synth: vocab 20000000 is invalid (expected at most 16777216)");
  EXPECT_FALSE(fs::exists(path("e.gguf")));
  SynthOptions o;
  o.shape = synth_preset("tiny", TensorType::F32, std::nullopt);
  o.vocab_from = path("missing.gguf");
  o.out = path("e.gguf");
  EXPECT_EQ(error_of([&] { synth_llama(o); }), path("missing.gguf") + ": cannot open: No such file or directory");
}

TEST_F(SynthTest, ArchitecturesTheirTensorsAndKeys) {
  EXPECT_EQ(synth_arch_names(), "llama, qwen2, qwen3, phi3");
  auto make = [&](const char* arch, int64_t head_dim) {
    SynthOptions o;
    o.arch = arch;
    o.preset = "tiny";
    o.type = TensorType::Q8_0;
    o.shape = synth_preset("tiny", o.type, std::nullopt);
    o.shape.head_dim = head_dim;
    o.seed = 3;
    o.n_threads = 2;
    o.out = path(std::string(arch) + ".gguf");
    synth_llama(o);
    return GgufFile::open(o.out);
  };
  const auto q2 = make("qwen2", 0);
  EXPECT_EQ(q2->get_string_or("general.architecture", ""), "qwen2");
  EXPECT_EQ(q2->get_u32("qwen2.embedding_length"), 64u);
  EXPECT_EQ(q2->get_f32_or("qwen2.rope.freq_base", 0.0f), 1e6f);
  ASSERT_NE(q2->find_tensor("blk.1.attn_k.bias"), nullptr);
  EXPECT_EQ(q2->find_tensor("blk.1.attn_k.bias")->ne[0], 32);
  EXPECT_EQ(q2->find_tensor("blk.0.attn_q_norm.weight"), nullptr);
  const auto q3 = make("qwen3", 32);  // head_dim 32 with dim 64 and 4 heads: q is 128 wide
  EXPECT_EQ(q3->get_u32("qwen3.attention.key_length"), 32u);
  EXPECT_EQ(q3->get_u32("qwen3.attention.value_length"), 32u);
  EXPECT_EQ(q3->find_tensor("blk.0.attn_q.weight")->ne[1], 128);
  EXPECT_EQ(q3->find_tensor("blk.0.attn_k.weight")->ne[1], 64);
  EXPECT_EQ(q3->find_tensor("blk.0.attn_output.weight")->ne[0], 128);
  EXPECT_EQ(q3->find_tensor("blk.0.attn_q_norm.weight")->ne[0], 32);
  EXPECT_EQ(q3->find_tensor("blk.1.attn_k_norm.weight")->ne[0], 32);
  EXPECT_EQ(q3->find_tensor("blk.0.attn_q.bias"), nullptr);
  const auto l = make("llama", 0);
  EXPECT_FALSE(l->has("llama.attention.key_length"));
  EXPECT_EQ(l->find_tensor("blk.0.attn_q.bias"), nullptr);

  const auto p3 = make("phi3", 0);
  EXPECT_EQ(p3->find_tensor("blk.0.attn_qkv.weight")->ne[1], 64 + 2 * 32);
  EXPECT_EQ(p3->find_tensor("blk.1.ffn_up.weight")->ne[1], 2 * 192);
  EXPECT_EQ(p3->find_tensor("blk.0.ffn_gate.weight"), nullptr);
  EXPECT_EQ(p3->find_tensor("blk.0.attn_q.weight"), nullptr);

  EXPECT_EQ(error_of([&] { make("gpt2", 0); }),
            "synth: unknown architecture 'gpt2' (expected llama, qwen2, qwen3, phi3)");
  EXPECT_EQ(error_of([&] { make("llama", 32); }),
            "synth: head_dim 32 must be dim / heads for llama (only qwen3 decouples it)");
  EXPECT_EQ(error_of([&] { make("qwen3", 30); }), "synth: heads * head_dim 120 is not a multiple of the q8_0 block size 32");
}

// Single-token float forward pass (position 0, so attention returns v) over a deep synthetic
// model: the residual stream stays bounded and the logits are finite.
TEST_F(SynthTest, ActivationsStayBoundedThroughLayers) {
  SynthOptions o;
  o.shape = synth_parse_shape("64,24,4,2,192,512");
  o.type = TensorType::F32;
  o.seed = 5;
  o.out = path("deep.gguf");
  synth_llama(o);
  auto f = GgufFile::open(o.out);
  const int64_t dim = 64, kv_dim = 32, ffn = 192, vocab = 512, head_dim = 16;
  auto matvec = [&](const std::string& name, const std::vector<float>& x) {
    const TensorInfo* t = f->find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    std::vector<float> y(static_cast<size_t>(t->ne[1]));
    for (int64_t r = 0; r < t->ne[1]; ++r) {
      const float* w = reinterpret_cast<const float*>(t->data) + r * t->ne[0];
      double acc = 0;
      for (int64_t i = 0; i < t->ne[0]; ++i) acc += double(w[i]) * x[i];
      y[r] = float(acc);
    }
    return y;
  };
  auto rmsnorm = [&](const std::vector<float>& x) {
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double s = 1.0 / std::sqrt(ss / double(x.size()) + 1e-5);
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = float(x[i] * s);  // norm weights are 1
    return y;
  };
  auto rms = [](const std::vector<float>& x) {
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    return std::sqrt(ss / double(x.size()));
  };
  for (int token : {1, 77, 300}) {
    const TensorInfo* emb = f->find_tensor("token_embd.weight");
    std::vector<float> x(reinterpret_cast<const float*>(emb->data) + token * dim,
                         reinterpret_cast<const float*>(emb->data) + (token + 1) * dim);
    for (int l = 0; l < 24; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const std::vector<float> v = matvec(p + "attn_v.weight", rmsnorm(x));  // [kv_dim]
      std::vector<float> attn(static_cast<size_t>(dim));                      // heads share kv heads
      for (int64_t i = 0; i < dim; ++i) attn[i] = v[(i / head_dim / 2) * head_dim + i % head_dim];
      const std::vector<float> o2 = matvec(p + "attn_output.weight", attn);
      for (int64_t i = 0; i < dim; ++i) x[i] += o2[i];
      const std::vector<float> h = rmsnorm(x);
      const std::vector<float> g = matvec(p + "ffn_gate.weight", h), u = matvec(p + "ffn_up.weight", h);
      std::vector<float> a(static_cast<size_t>(ffn));
      for (int64_t i = 0; i < ffn; ++i) a[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
      const std::vector<float> d = matvec(p + "ffn_down.weight", a);
      for (int64_t i = 0; i < dim; ++i) x[i] += d[i];
      ASSERT_LT(rms(x), 4.0) << "layer " << l;
      ASSERT_GT(rms(x), 0.1) << "layer " << l;
    }
    const std::vector<float> logits = matvec("output.weight", rmsnorm(x));
    ASSERT_EQ(int64_t(logits.size()), vocab);
    for (float z : logits) {
      ASSERT_TRUE(std::isfinite(z));
      ASSERT_LT(std::fabs(z), 10.0f);
    }
    (void)kv_dim;
  }
}

}  // namespace
}  // namespace greta
