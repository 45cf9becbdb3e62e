#include "greta/cuda/cuda_session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/cuda/gpu_compat.h"
#include "greta/cuda/kernels.h"
#include "greta/model/model.h"
#include "greta/ops/rope.h"
#include "greta/quant/blocks.h"
#include "greta/quant/quant.h"

namespace greta::cuda {
namespace {

// Same micro-batch and context defaults as the CPU Session (runtime/session.cpp).
constexpr int32_t kMaxMicroBatch = 256;
constexpr int32_t kDefaultCtxCap = 4096;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

// A device allocation, freed with its owner.
class DevBuf {
 public:
  DevBuf() = default;
  explicit DevBuf(size_t bytes) {
    if (bytes == 0) bytes = 16;
    check(cudaMalloc(&p_, bytes), ("allocating " + std::to_string(bytes) + " bytes").c_str());
  }
  DevBuf(DevBuf&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  DevBuf& operator=(DevBuf&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~DevBuf() {
    if (p_ != nullptr) cudaFree(p_);
  }
  template <typename T = void>
  T* get() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
};

DevBuf upload(const void* src, size_t bytes) {
  DevBuf b(bytes);
  check(cudaMemcpy(b.get(), src, bytes, cudaMemcpyHostToDevice), "uploading");
  return b;
}

// A weight matrix on the device and the buffers behind it.
struct GpuMatrix {
  DevMatrix m;
  DevBuf data, scales;
};

GpuMatrix upload_matrix(const cpu::WeightMatrix& w, const char* name) {
  GpuMatrix g;
  g.m.rows = w.rows;
  g.m.cols = w.cols;
  if (w.cols % 4 != 0) {
    fail(std::string("tensor ") + name + ": " + std::to_string(w.cols) +
         " columns is not a multiple of 4, which the CUDA backend requires");
  }
  const int64_t nb = w.cols / 32;
  g.m.ld = (w.cols + 7) / 8 * 8;
  switch (w.type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: {
      g.m.type = w.type == TensorType::F32 ? DevWeightType::F32
                 : w.type == TensorType::F16 ? DevWeightType::F16 : DevWeightType::BF16;
      // Rows padded to 8 elements so that every 8-element group load is 16-byte aligned.
      const int64_t esize = w.type == TensorType::F32 ? 4 : 2;
      std::vector<uint8_t> padded(static_cast<size_t>(w.rows * g.m.ld * esize), 0);
      for (int64_t r = 0; r < w.rows; ++r) std::memcpy(&padded[r * g.m.ld * esize], w.data + r * w.row_bytes, w.cols * esize);
      g.data = upload(padded.data(), padded.size());
      break;
    }
    case TensorType::Q8_0:
    case TensorType::Q4_0: {
      // Split ggml's blocks into quants and f32 scales so that every lane load is aligned.
      const bool q8 = w.type == TensorType::Q8_0;
      const int64_t qbytes = q8 ? 32 : 16, bbytes = q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
      std::vector<uint8_t> qs(static_cast<size_t>(w.rows * nb * qbytes));
      std::vector<float> sc(static_cast<size_t>(w.rows * nb));
      for (int64_t r = 0; r < w.rows; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = row + b * bbytes;
          uint16_t d;
          std::memcpy(&d, blk, 2);
          sc[r * nb + b] = fp16_to_fp32(d);
          std::memcpy(&qs[(r * nb + b) * qbytes], blk + 2, qbytes);
        }
      }
      g.m.type = q8 ? DevWeightType::Q8_0 : DevWeightType::Q4_0;
      g.data = upload(qs.data(), qs.size());
      g.scales = upload(sc.data(), sc.size() * sizeof(float));
      break;
    }
    default: {
      // Other block types (K-quants, ...): dequantized once, exactly as the CPU reference does.
      if (!tensor_type_info(w.type).is_storage_type) {
        fail(std::string("tensor ") + name + ": type " + tensor_type_name(w.type) +
             " not supported by the CUDA backend");
      }
      std::vector<float> f(static_cast<size_t>(w.rows * w.cols));
      for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w.type, w.data + r * w.row_bytes, &f[r * w.cols], w.cols);
      g.m.type = DevWeightType::F32;
      g.m.ld = w.cols;  // block types have cols % 32 == 0
      g.data = upload(f.data(), f.size() * sizeof(float));
      break;
    }
  }
  g.m.data = g.data.get();
  g.m.scales = g.scales.get<float>();
  return g;
}

DevBuf upload_vec(const float* v, int64_t n) {
  if (v == nullptr) return DevBuf();
  return upload(v, static_cast<size_t>(n) * sizeof(float));
}

DevKvType to_dev(KvDtype t) {
  switch (t) {
    case KvDtype::F32: return DevKvType::F32;
    case KvDtype::F16: return DevKvType::F16;
    case KvDtype::BF16: return DevKvType::BF16;
  }
  return DevKvType::F32;
}

}  // namespace

bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::string device_description() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no CUDA device (") + cudaGetErrorString(e) + ")";
  if (n == 0) return "no CUDA device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "CUDA device 0 (properties unavailable)";
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, " + gib + " GiB)";
}

struct LayerGpu {
  DevBuf attn_norm, ffn_norm, bq, bk, bv;
  GpuMatrix wq, wk, wv, wo, gate, up, down;
  DevBuf k_cache, v_cache;
  DevKvLayer kv;
};

struct CudaSession::Impl {
  const model::Model& model;
  model::HParams hp;
  int32_t n_ctx = 0;
  int32_t max_batch = 0;
  int32_t n_past = 0;
  KvDtype kv_dtype = KvDtype::F32;

  std::vector<LayerGpu> layers;
  GpuMatrix output;
  DevBuf output_norm;
  DevBuf rope_cos, rope_sin;  // [n_ctx, n_rot/2] f32
  // Activations for micro-batches of up to max_batch rows.
  DevBuf x, xb, q, k, v, att, gate, up;  // [max_batch, n_embd | n_q | n_kv | n_ff] f32
  DevBuf logits_dev;                           // [max_batch, n_vocab] f32
  DevBuf pos_dev;                              // [1] int32: position of the first row
  std::vector<float> embd_host;                // [max_batch, n_embd] f32
  std::vector<float> logits;                   // host [rows, n_vocab]
  cudaStream_t stream = nullptr;
  // Decode: the whole one-token forward captured once as a graph and replayed at every
  // position (positions come from pos_dev). GRETA_CUDA_GRAPH=0 launches kernel by kernel.
  bool use_graph = true;
  cudaGraphExec_t decode_graph = nullptr;

  Impl(const LoadedModel& lm, const SessionOptions& opt);
  ~Impl();
  // Runs tokens [0, n) at positions pos0 ..; writes logits of rows [logits_first, n) to
  // logits_dev (asynchronously, on `stream`). PRECONDITIONS: 1 <= n <= max_batch,
  // pos0 + n <= n_ctx, ids in range.
  void forward(const TokenId* tokens, int32_t n, int32_t pos0, int32_t logits_first, bool graph);
  // The kernels of one forward pass after the embedding upload.
  void launch_layers(int32_t n, int32_t logits_first);
  // Copies rows of logits_dev to dst and waits for the stream.
  void download_logits(float* dst, int64_t rows);
  void check_token(TokenId t) const {
    if (t < 0 || t >= hp.n_vocab) fail("token id " + std::to_string(t) + " out of range [0, " + std::to_string(hp.n_vocab) + ")");
  }
};

CudaSession::Impl::Impl(const LoadedModel& lm, const SessionOptions& opt) : model(*lm.model), hp(lm.model->hparams()) {
  if (!device_available()) fail("the CUDA backend needs a GPU: " + device_description());
  if (opt.n_ctx < 0) fail("context size must be >= 0 (0: the model's), got " + std::to_string(opt.n_ctx));
  if (opt.n_ctx > (1 << 20)) fail("context size " + std::to_string(opt.n_ctx) + " is too large (max 1048576)");
  n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min(hp.n_ctx_train, kDefaultCtxCap);
  max_batch = std::min(kMaxMicroBatch, n_ctx);
  kv_dtype = opt.kv_dtype;
  if (hp.head_dim > 256 || hp.head_dim % 8 != 0) {
    fail("head_dim " + std::to_string(hp.head_dim) + " not supported by the CUDA backend (a multiple of 8, <= 256)");
  }
  const model::Weights& w = model.weights();
  const int64_t n_embd = hp.n_embd, n_q = hp.n_embd_q(), n_kv = hp.n_embd_kv(), n_ff = hp.n_ff;
  const int32_t n_tiles = (n_ctx + kDevTile - 1) / kDevTile;
  const size_t kv_elem = kv_dtype == KvDtype::F32 ? 4 : 2;
  const size_t kv_bytes = static_cast<size_t>(hp.n_head_kv) * n_tiles * kDevTile * hp.head_dim * kv_elem;
  layers.resize(hp.n_layer);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const model::LayerWeights& L = w.layers[il];
    LayerGpu& g = layers[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    g.attn_norm = upload_vec(L.attn_norm, n_embd);
    g.ffn_norm = upload_vec(L.ffn_norm, n_embd);
    g.bq = upload_vec(L.bq, n_q);
    g.bk = upload_vec(L.bk, n_kv);
    g.bv = upload_vec(L.bv, n_kv);
    g.wq = upload_matrix(L.wq, (p + "attn_q.weight").c_str());
    g.wk = upload_matrix(L.wk, (p + "attn_k.weight").c_str());
    g.wv = upload_matrix(L.wv, (p + "attn_v.weight").c_str());
    g.wo = upload_matrix(L.wo, (p + "attn_output.weight").c_str());
    g.gate = upload_matrix(L.ffn_gate, (p + "ffn_gate.weight").c_str());
    g.up = upload_matrix(L.ffn_up, (p + "ffn_up.weight").c_str());
    g.down = upload_matrix(L.ffn_down, (p + "ffn_down.weight").c_str());
    g.k_cache = DevBuf(kv_bytes);
    g.v_cache = DevBuf(kv_bytes);
    // Unwritten cache is never read (attention stops at pos), but zeros keep NaN patterns out.
    check(cudaMemset(g.k_cache.get(), 0, kv_bytes), "clearing the KV cache");
    check(cudaMemset(g.v_cache.get(), 0, kv_bytes), "clearing the KV cache");
    g.kv = DevKvLayer{to_dev(kv_dtype), n_tiles, hp.n_head_kv, hp.head_dim, g.k_cache.get(), g.v_cache.get()};
  }
  output = upload_matrix(w.output, "output.weight");
  output_norm = upload_vec(w.output_norm, n_embd);

  // The CPU's RoPE table (f64 angles rounded to f32), so both backends rotate by the same values.
  ops::RopeParams rp;
  rp.type = hp.rope_type;
  rp.n_rot = hp.n_rot;
  rp.freq_base = hp.rope_freq_base;
  rp.freq_scale = hp.rope_freq_scale;
  rp.freq_factors = w.rope_freqs;
  const ops::RopeTable table(rp, n_ctx);
  const size_t half = static_cast<size_t>(hp.n_rot / 2);
  rope_cos = upload(table.cos_row(0), n_ctx * half * sizeof(float));
  rope_sin = upload(table.sin_row(0), n_ctx * half * sizeof(float));

  auto act = [&](int64_t cols) { return DevBuf(static_cast<size_t>(max_batch) * cols * sizeof(float)); };
  x = act(n_embd);
  xb = act(n_embd);
  q = act(n_q);
  k = act(n_kv);
  v = act(n_kv);
  att = act(n_q);
  gate = act(n_ff);
  up = act(n_ff);
  logits_dev = act(hp.n_vocab);
  pos_dev = DevBuf(sizeof(int32_t));
  embd_host.resize(static_cast<size_t>(max_batch) * n_embd);
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "creating a stream");
  const char* g = std::getenv("GRETA_CUDA_GRAPH");
  use_graph = !(g != nullptr && std::string(g) == "0");
}

CudaSession::Impl::~Impl() {
  if (decode_graph != nullptr) cudaGraphExecDestroy(decode_graph);
  if (stream != nullptr) {
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
}

void CudaSession::Impl::download_logits(float* dst, int64_t rows) {
  check(cudaMemcpyAsync(dst, logits_dev.get(), static_cast<size_t>(rows * hp.n_vocab) * sizeof(float),
                        cudaMemcpyDeviceToHost, stream),
        "downloading logits");
  check(cudaStreamSynchronize(stream), "running the forward pass");
}

void CudaSession::Impl::forward(const TokenId* tokens, int32_t n, int32_t pos0, int32_t logits_first, bool graph) {
  const model::Weights& w = model.weights();
  const int64_t n_embd = hp.n_embd;
  // Embedding rows are dequantized on the host (the CPU reference conversion) and uploaded.
  for (int32_t r = 0; r < n; ++r) {
    dequantize_row(w.tok_embd.type, w.tok_embd.data + static_cast<int64_t>(tokens[r]) * w.tok_embd.row_bytes,
                   &embd_host[static_cast<size_t>(r) * n_embd], n_embd);
  }
  // Pageable sources: both copies are complete when cudaMemcpyAsync returns.
  check(cudaMemcpyAsync(x.get(), embd_host.data(), static_cast<size_t>(n) * n_embd * sizeof(float),
                        cudaMemcpyHostToDevice, stream),
        "uploading embeddings");
  check(cudaMemcpyAsync(pos_dev.get(), &pos0, sizeof(int32_t), cudaMemcpyHostToDevice, stream), "uploading the position");
  launch_set_stream(stream);
  if (!graph) {
    launch_layers(n, logits_first);
    return;
  }
  if (decode_graph == nullptr) {
    cudaGraph_t g = nullptr;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capturing the decode graph");
    launch_layers(n, logits_first);
    check(cudaStreamEndCapture(stream, &g), "capturing the decode graph");
    const cudaError_t e = cudaGraphInstantiate(&decode_graph, g, 0);
    cudaGraphDestroy(g);
    check(e, "instantiating the decode graph");
  }
  check(cudaGraphLaunch(decode_graph, stream), "launching the decode graph");
}

void CudaSession::Impl::launch_layers(int32_t n, int32_t logits_first) {
  const int64_t n_embd = hp.n_embd, n_q = hp.n_embd_q(), n_kv = hp.n_embd_kv(), n_ff = hp.n_ff;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  const bool neox = hp.rope_type == ops::RopeType::NeoX;
  const int32_t* pos0 = pos_dev.get<int32_t>();
  float* X = x.get<float>();
  float* XB = xb.get<float>();
  float* Q = q.get<float>();
  float* K = k.get<float>();
  float* V = v.get<float>();
  float* ATT = att.get<float>();
  float* G = gate.get<float>();
  float* U = up.get<float>();

  for (int32_t il = 0; il < hp.n_layer; ++il) {
    LayerGpu& L = layers[il];
    launch_rms_norm(X, L.attn_norm.get<float>(), XB, n, n_embd, n_embd, hp.rms_eps);
    launch_matmul(L.wq.m, XB, n_embd, n, Q, n_q);
    launch_matmul(L.wk.m, XB, n_embd, n, K, n_kv);
    launch_matmul(L.wv.m, XB, n_embd, n, V, n_kv);
    if (L.bq.get() != nullptr) launch_add_bias(Q, L.bq.get<float>(), n, n_q);
    if (L.bk.get() != nullptr) launch_add_bias(K, L.bk.get<float>(), n, n_kv);
    if (L.bv.get() != nullptr) launch_add_bias(V, L.bv.get<float>(), n, n_kv);
    launch_rope(Q, n, hp.n_head, hp.head_dim, hp.n_rot, neox, rope_cos.get<float>(), rope_sin.get<float>(), pos0);
    launch_rope(K, n, hp.n_head_kv, hp.head_dim, hp.n_rot, neox, rope_cos.get<float>(), rope_sin.get<float>(), pos0);
    // K/V are rounded into the cache first and attention reads them back, in both phases.
    launch_kv_store(L.kv, K, V, pos0, n);
    launch_attention(L.kv, Q, hp.n_head, scale, pos0, n, ATT);
    launch_matmul(L.wo.m, ATT, n_q, n, X, n_embd, /*accumulate=*/true);  // x += wo · att
    launch_rms_norm(X, L.ffn_norm.get<float>(), XB, n, n_embd, n_embd, hp.rms_eps);
    launch_matmul(L.gate.m, XB, n_embd, n, G, n_ff);
    launch_matmul(L.up.m, XB, n_embd, n, U, n_ff);
    launch_swiglu(G, U, static_cast<int64_t>(n) * n_ff);
    launch_matmul(L.down.m, G, n_ff, n, X, n_embd, /*accumulate=*/true);  // x += down · swiglu
  }
  const int32_t n_out = n - logits_first;
  if (n_out == 0) return;
  const float* xo = X + static_cast<int64_t>(logits_first) * n_embd;
  launch_rms_norm(xo, output_norm.get<float>(), XB, n_out, n_embd, n_embd, hp.rms_eps);
  launch_matmul(output.m, XB, n_embd, n_out, logits_dev.get<float>(), hp.n_vocab);
}

CudaSession::CudaSession(const LoadedModel& model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(model, options)) {}
CudaSession::~CudaSession() = default;

int32_t CudaSession::n_ctx() const { return impl_->n_ctx; }
int32_t CudaSession::n_past() const { return impl_->n_past; }
int32_t CudaSession::n_vocab() const { return impl_->hp.n_vocab; }
void CudaSession::reset() { impl_->n_past = 0; }

const float* CudaSession::prefill(std::span<const TokenId> tokens, bool all_logits) {
  Impl& s = *impl_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) fail("prefill of an empty token list");
  if (s.n_past + n > s.n_ctx) {
    fail("prompt of " + std::to_string(n) + " tokens at position " + std::to_string(s.n_past) +
         " does not fit the context size " + std::to_string(s.n_ctx) + " (use a larger -c/--ctx-size)");
  }
  for (TokenId t : tokens) s.check_token(t);
  const int64_t n_vocab = s.hp.n_vocab;
  s.logits.resize(static_cast<size_t>((all_logits ? n : 1) * n_vocab));
  for (int64_t start = 0; start < n; start += s.max_batch) {
    const int32_t cnt = static_cast<int32_t>(std::min<int64_t>(s.max_batch, n - start));
    const bool last = start + cnt == n;
    const int32_t first = all_logits ? 0 : (last ? cnt - 1 : cnt);
    s.forward(tokens.data() + start, cnt, s.n_past, first, false);
    s.n_past += cnt;
    const int64_t rows = cnt - first;
    s.download_logits(all_logits ? s.logits.data() + start * n_vocab : s.logits.data(), rows);
  }
  return s.logits.data();
}

const float* CudaSession::decode(TokenId token) {
  Impl& s = *impl_;
  if (s.n_past + 1 > s.n_ctx) {
    fail("decode at position " + std::to_string(s.n_past) + " exceeds the context size " + std::to_string(s.n_ctx));
  }
  s.check_token(token);
  s.logits.resize(static_cast<size_t>(s.hp.n_vocab));
  s.forward(&token, 1, s.n_past, 0, s.use_graph);
  s.n_past += 1;
  s.download_logits(s.logits.data(), 1);
  return s.logits.data();
}

}  // namespace greta::cuda

namespace greta::cuda {

void register_backend() {
  register_session_backend(SessionBackend{
      .name = "cuda",
      .create = [](const LoadedModel& model, const SessionOptions& options) -> std::unique_ptr<InferenceSession> {
        return std::make_unique<CudaSession>(model, options);
      },
      .describe = [] { return device_description(); },
  });
}

}  // namespace greta::cuda
