// Model files built in the test: clear errors for an unsupported architecture, a missing tensor
// and a mis-shaped tensor; and qwen2 (Q/K/V biases, NeoX RoPE) checked against an independent
// f64 forward pass written here from the architecture's definition.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <unistd.h>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/quant/quant.h"
#include "greta/synth/synth_llama.h"
#include "model_test_util.h"

namespace greta {
namespace {

std::filesystem::path temp_dir() { return test::process_temp_dir("greta_model_files_"); }

// A tiny synthetic llama in F32 (the base every variant below is derived from).
const gguf::GgufFile& base_file() {
  static std::unique_ptr<gguf::GgufFile> f = [] {
    const std::string path = (temp_dir() / "base.gguf").string();
    SynthOptions o;
    o.preset = "tiny";
    o.type = TensorType::F32;
    o.shape = synth_preset("tiny", TensorType::F32, std::nullopt);
    o.seed = 7;
    o.out = path;
    o.n_threads = 1;
    synth_llama(o);
    return gguf::GgufFile::open(path);
  }();
  return *f;
}

struct Edit {
  std::function<std::string(std::string_view key)> rename_key;  // "" drops the key
  std::map<std::string, std::string> string_values;              // overrides
  std::string drop_tensor;
  std::string reshape_tensor;  // declared with its last dimension halved
  std::function<void(gguf::GgufWriter&)> extra;
};

// Copies the base file with edits and returns the new path.
std::string derive(const std::string& name, const Edit& e) {
  const gguf::GgufFile& in = base_file();
  gguf::GgufWriter w;
  for (const gguf::KeyValue& kv : in.metadata()) {
    if (kv.key == "general.alignment") continue;
    const std::string key = e.rename_key ? e.rename_key(kv.key) : std::string(kv.key);
    if (key.empty()) continue;
    auto it = e.string_values.find(key);
    if (it != e.string_values.end()) {
      w.add_string(key, it->second);
    } else {
      w.add_value(key, kv.value);
    }
  }
  for (const gguf::TensorInfo& t : in.tensors()) {
    if (t.name == e.drop_tensor) continue;
    std::vector<int64_t> shape(t.ne.begin(), t.ne.begin() + t.n_dims);
    if (t.name == e.reshape_tensor) shape.back() /= 2;
    w.add_tensor(t.name, t.type, shape, t.data);
  }
  if (e.extra) e.extra(w);
  const std::string path = (temp_dir() / name).string();
  w.write_file(path);
  return path;
}

std::string load_error(const std::string& path) {
  try {
    load_model(path);
  } catch (const Error& err) {
    return err.what();
  }
  return "<no error>";
}

TEST(ModelFiles, UnsupportedArchitectureIsAClearError) {
  const std::string path = derive("arch.gguf", [] {
    Edit e;
    e.string_values = {{"general.architecture", "falcon"}};
    return e;
  }());
  const std::string msg = load_error(path);
  EXPECT_NE(msg.find("unsupported architecture 'falcon'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llama, qwen2"), std::string::npos) << msg;
}

TEST(ModelFiles, MissingTensorIsNamed) {
  const std::string msg = load_error(derive("missing.gguf", [] {
    Edit e;
    e.drop_tensor = "blk.1.ffn_up.weight";
    return e;
  }()));
  EXPECT_NE(msg.find("missing tensor 'blk.1.ffn_up.weight'"), std::string::npos) << msg;
}

TEST(ModelFiles, MisShapedTensorNamesBothShapes) {
  const std::string msg = load_error(derive("shape.gguf", [] {
    Edit e;
    e.reshape_tensor = "blk.0.attn_k.weight";
    return e;
  }()));
  // tiny: dim 64, 2 KV heads of 16 -> attn_k is [64, 32]; declared here as [64, 16].
  EXPECT_NE(msg.find("tensor 'blk.0.attn_k.weight' has shape [64, 16], expected [64, 32]"), std::string::npos) << msg;
}

TEST(ModelFiles, MissingRequiredKeyIsNamed) {
  const std::string msg = load_error(derive("nokey.gguf", [] {
    Edit e;
    e.rename_key = [](std::string_view k) { return k == "llama.block_count" ? std::string() : std::string(k); };
    return e;
  }()));
  EXPECT_NE(msg.find("llama.block_count"), std::string::npos) << msg;
}

// ---- An independent f64 forward pass (dense weights, direct formulas), for llama and qwen2. ----

std::vector<double> tensor_f64(const gguf::GgufFile& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return {};
  std::vector<float> tmp(t->n_elements());
  for (int64_t r = 0; r < t->n_rows(); ++r) dequantize_row(t->type, t->data + r * t->row_bytes(), tmp.data() + r * t->ne[0], t->ne[0]);
  return std::vector<double>(tmp.begin(), tmp.end());
}

// Logits [n, n_vocab] of every position of `tokens`.
std::vector<double> reference_forward(const gguf::GgufFile& f, const std::vector<TokenId>& tokens) {
  const std::string arch(f.get_string("general.architecture"));
  const std::string p = arch + ".";
  const int D = static_cast<int>(f.get_u32(p + "embedding_length"));
  const int L = static_cast<int>(f.get_u32(p + "block_count"));
  const int H = static_cast<int>(f.get_u32(p + "attention.head_count"));
  const int HKV = static_cast<int>(f.get_u32(p + "attention.head_count_kv"));
  const int FF = static_cast<int>(f.get_u32(p + "feed_forward_length"));
  const double eps = f.get_f32(p + "attention.layer_norm_rms_epsilon");
  const double base = f.get_f32_or(p + "rope.freq_base", 10000.0f);
  const int hd = D / H;
  const bool neox = arch == "qwen2";
  const auto embd = tensor_f64(f, "token_embd.weight");
  auto out_w = tensor_f64(f, "output.weight");
  if (out_w.empty()) out_w = embd;
  const int V = static_cast<int>(embd.size() / D);
  const int n = static_cast<int>(tokens.size());
  auto matvec = [](const std::vector<double>& w, const std::vector<double>& x, int rows, int cols) {
    std::vector<double> y(rows, 0.0);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) y[r] += w[static_cast<size_t>(r) * cols + c] * x[c];
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const std::vector<double>& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / x.size() + eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
    return y;
  };
  auto rope = [&](std::vector<double>& x, int heads, int pos) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double th = pos * std::pow(base, -2.0 * i / hd);
        const int a = h * hd + (neox ? i : 2 * i), b = h * hd + (neox ? i + hd / 2 : 2 * i + 1);
        const double x0 = x[a], x1 = x[b];
        x[a] = x0 * std::cos(th) - x1 * std::sin(th);
        x[b] = x0 * std::sin(th) + x1 * std::cos(th);
      }
  };
  std::vector<std::vector<double>> xs(n);
  for (int t = 0; t < n; ++t) xs[t].assign(embd.begin() + static_cast<size_t>(tokens[t]) * D, embd.begin() + static_cast<size_t>(tokens[t] + 1) * D);
  for (int l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const auto wq = tensor_f64(f, b + "attn_q.weight"), wk = tensor_f64(f, b + "attn_k.weight"),
               wv = tensor_f64(f, b + "attn_v.weight"), wo = tensor_f64(f, b + "attn_output.weight");
    const auto bq = tensor_f64(f, b + "attn_q.bias"), bk = tensor_f64(f, b + "attn_k.bias"), bv = tensor_f64(f, b + "attn_v.bias");
    const auto an = tensor_f64(f, b + "attn_norm.weight"), fn = tensor_f64(f, b + "ffn_norm.weight");
    const auto wg = tensor_f64(f, b + "ffn_gate.weight"), wu = tensor_f64(f, b + "ffn_up.weight"), wd = tensor_f64(f, b + "ffn_down.weight");
    std::vector<std::vector<double>> K(n), Vv(n), Q(n);
    for (int t = 0; t < n; ++t) {
      const auto h = rmsnorm(xs[t], an);
      Q[t] = matvec(wq, h, H * hd, D);
      K[t] = matvec(wk, h, HKV * hd, D);
      Vv[t] = matvec(wv, h, HKV * hd, D);
      for (size_t i = 0; i < bq.size(); ++i) Q[t][i] += bq[i];
      for (size_t i = 0; i < bk.size(); ++i) K[t][i] += bk[i];
      for (size_t i = 0; i < bv.size(); ++i) Vv[t][i] += bv[i];
      rope(Q[t], H, t);
      rope(K[t], HKV, t);
    }
    for (int t = 0; t < n; ++t) {
      std::vector<double> att(H * hd, 0.0);
      for (int h = 0; h < H; ++h) {
        const int kh = h / (H / HKV);
        std::vector<double> s(t + 1);
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += Q[t][h * hd + i] * K[j][kh * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (int j = 0; j <= t; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * Vv[j][kh * hd + i];
      }
      const auto o = matvec(wo, att, D, H * hd);
      for (int i = 0; i < D; ++i) xs[t][i] += o[i];
      const auto h2 = rmsnorm(xs[t], fn);
      auto g = matvec(wg, h2, FF, D);
      const auto u = matvec(wu, h2, FF, D);
      for (int i = 0; i < FF; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const auto d2 = matvec(wd, g, D, FF);
      for (int i = 0; i < D; ++i) xs[t][i] += d2[i];
    }
  }
  const auto on = tensor_f64(f, "output_norm.weight");
  std::vector<double> logits;
  for (int t = 0; t < n; ++t) {
    const auto y = matvec(out_w, rmsnorm(xs[t], on), V, D);
    logits.insert(logits.end(), y.begin(), y.end());
  }
  return logits;
}

double max_abs_diff(const float* a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

const std::vector<TokenId> kPrompt = {1, 17, 300, 42, 9, 256, 77, 400, 3, 128, 64, 500, 33, 2, 99, 250, 18, 19, 20, 21,
                                      22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41};

TEST(ModelFiles, LlamaMatchesIndependentF64Forward) {
  const std::string path = derive("llama.gguf", {});
  const auto lm = load_model(path);
  Session s(*lm, {.n_ctx = 64, .kv_dtype = KvDtype::F32, .kv_aligned = true, .n_threads = 2});
  const float* l = s.prefill(kPrompt, true);
  const auto file = gguf::GgufFile::open(path);
  const double d = max_abs_diff(l, reference_forward(*file, kPrompt));
  EXPECT_LE(d, 1e-4);
  std::printf("synthetic llama: max |dlogit| vs f64 forward = %.3g\n", d);
}

// qwen2: the llama keys renamed, plus Q/K/V biases; the loader must pick NeoX RoPE and add them.
std::string make_qwen2() {
  static const std::vector<float> bias_q = [] {
    std::vector<float> b(64);
    for (size_t i = 0; i < b.size(); ++i) b[i] = 0.3f * std::sin(0.7f * i);
    return b;
  }();
  static const std::vector<float> bias_kv = [] {
    std::vector<float> b(32);
    for (size_t i = 0; i < b.size(); ++i) b[i] = 0.2f * std::cos(1.3f * i);
    return b;
  }();
  Edit e;
  e.rename_key = [](std::string_view k) {
    return k.rfind("llama.", 0) == 0 ? "qwen2." + std::string(k.substr(6)) : std::string(k);
  };
  e.string_values = {{"general.architecture", "qwen2"}};
  e.extra = [](gguf::GgufWriter& w) {
    for (int l = 0; l < 2; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      w.add_tensor(b + "attn_q.bias", TensorType::F32, {64}, bias_q.data());
      w.add_tensor(b + "attn_k.bias", TensorType::F32, {32}, bias_kv.data());
      w.add_tensor(b + "attn_v.bias", TensorType::F32, {32}, bias_kv.data());
    }
  };
  return derive("qwen2.gguf", e);
}

TEST(ModelFiles, Qwen2MatchesIndependentF64ForwardAndIsKvAligned) {
  const std::string path = make_qwen2();
  const auto lm = load_model(path);
  EXPECT_EQ(lm->stats.arch, "qwen2");
  const auto file = gguf::GgufFile::open(path);
  const auto ref = reference_forward(*file, kPrompt);
  const int64_t nv = lm->stats.n_vocab;
  const int n = static_cast<int>(kPrompt.size());
  Session s(*lm, {.n_ctx = 64, .kv_dtype = KvDtype::F32, .kv_aligned = true, .n_threads = 2});
  const float* l = s.prefill(kPrompt, true);
  const std::vector<float> all(l, l + n * nv);
  const double d = max_abs_diff(all.data(), ref);
  EXPECT_LE(d, 1e-4);
  std::printf("synthetic qwen2: max |dlogit| vs f64 forward = %.3g\n", d);
  // prefill vs decode, bf16 cache, 1 and 3 threads.
  for (int t : {1, 3}) {
    Session a(*lm, {.n_ctx = 64, .kv_dtype = KvDtype::BF16, .kv_aligned = true, .n_threads = t});
    const float* la = a.prefill(kPrompt, false);
    const std::vector<float> last(la, la + nv);
    Session b(*lm, {.n_ctx = 64, .kv_dtype = KvDtype::BF16, .kv_aligned = true, .n_threads = t});
    b.prefill(std::span<const TokenId>(kPrompt.data(), n - 1), false);
    EXPECT_TRUE(test::bits_equal(last.data(), b.decode(kPrompt.back()), nv)) << "threads " << t;
  }
  // The biases matter: without them the logits change.
  const auto lm_llama = load_model(derive("llama.gguf", {}));
  Session c(*lm_llama, {.n_ctx = 64, .kv_dtype = KvDtype::F32, .kv_aligned = true, .n_threads = 1});
  EXPECT_FALSE(test::bits_equal(c.prefill(kPrompt, true), all.data(), n * nv));
}

TEST(ModelFiles, ContextOverflowAndBadTokensAreErrors) {
  const auto lm = load_model(derive("llama.gguf", {}));
  Session s(*lm, {.n_ctx = 8, .kv_dtype = KvDtype::F32, .kv_aligned = true, .n_threads = 1});
  const std::vector<TokenId> nine(9, 5);
  try {
    s.prefill(nine, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the context size 8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.n_past(), 0);
  EXPECT_THROW(s.decode(100000), Error);
  EXPECT_THROW(s.prefill(std::vector<TokenId>{}, false), Error);
  s.prefill(std::vector<TokenId>(8, 5), false);
  EXPECT_THROW(s.decode(5), Error);
  s.reset();
  EXPECT_EQ(s.n_past(), 0);
  s.decode(5);
}

}  // namespace
}  // namespace greta
