#include "greta/cuda/cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "greta/core/error.h"
#include "greta/cuda/gpu_compat.h"
#include "greta/cuda/kernels.h"
#include "greta/cuda/sample.h"
#include "greta/ops/rope.h"
#include "greta/quant/blocks.h"
#include "greta/quant/quant.h"
#include "greta/runtime/backend_registry.h"

namespace greta::cuda {
namespace {

// Position from which a batch of few rows splits each row's attention chunks over warps.
constexpr int32_t kAttnSplitPos = 1024;

using backend::Tensor;
using backend::Weight;

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) fail("CUDA: " + what + ": " + cudaGetErrorString(e));
}

std::string gib(double bytes) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return s;
}

// A device allocation, freed with its owner.
class DevBuf {
 public:
  DevBuf() = default;
  // Throws greta::Error naming `what` and the size when the device has no room.
  DevBuf(size_t bytes, const std::string& what) : bytes_(bytes) {
    const cudaError_t e = cudaMalloc(&p_, bytes == 0 ? 16 : bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is not sticky: keep it out of later launch checks
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail("CUDA: " + what + " needs " + std::to_string(bytes) + " bytes (" + gib(static_cast<double>(bytes)) +
           "), which does not fit the device (" + gib(static_cast<double>(free_b)) + " free of " +
           gib(static_cast<double>(total_b)) + ")");
    }
  }
  DevBuf(DevBuf&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DevBuf& operator=(DevBuf&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DevBuf() {
    if (p_ != nullptr) cudaFree(p_);
  }
  template <typename T = void>
  T* get() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory: the source of asynchronous uploads (a copy from pageable memory
// waits for the stream first) and the target of the ids' download.
class PinnedBuf {
 public:
  PinnedBuf() = default;
  explicit PinnedBuf(size_t bytes) : bytes_(bytes) {
    if (cudaHostAlloc(&p_, bytes == 0 ? 16 : bytes, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      p_ = nullptr;
      fail("CUDA: cannot allocate " + std::to_string(bytes) + " bytes of pinned host memory");
    }
  }
  PinnedBuf(PinnedBuf&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuf& operator=(PinnedBuf&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~PinnedBuf() {
    if (p_ != nullptr) cudaFreeHost(p_);
  }
  template <typename T>
  T* get() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// What Weight::dev points to: a matrix (every weight), and for f32 vectors the same bytes as a
// plain float array.
struct GpuWeight {
  DevMatrix m;
  const float* vec = nullptr;  // [cols] f32, for rows == 1 F32 weights
  DevBuf data;                 // [rows, ld] of a float type, or the two planes of a block type
};

DevWeightType float_dev_type(TensorType t) {
  return t == TensorType::F32 ? DevWeightType::F32 : t == TensorType::F16 ? DevWeightType::F16 : DevWeightType::BF16;
}

DevKvType to_dev(KvType t) {
  switch (t) {
    case KvType::F32: return DevKvType::F32;
    case KvType::F16: return DevKvType::F16;
    case KvType::BF16: return DevKvType::BF16;
  }
  return DevKvType::F32;
}

std::optional<DevWeightType> block_dev_type(TensorType t) {
  switch (t) {
    case TensorType::Q8_0: return DevWeightType::Q8_0;
    case TensorType::Q4_0: return DevWeightType::Q4_0;
    case TensorType::Q4_1: return DevWeightType::Q4_1;
    case TensorType::Q5_0: return DevWeightType::Q5_0;
    case TensorType::Q5_1: return DevWeightType::Q5_1;
    case TensorType::Q2_K: return DevWeightType::Q2_K;
    case TensorType::Q3_K: return DevWeightType::Q3_K;
    case TensorType::Q4_K: return DevWeightType::Q4_K;
    case TensorType::Q5_K: return DevWeightType::Q5_K;
    case TensorType::Q6_K: return DevWeightType::Q6_K;
    default: return std::nullopt;
  }
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

}  // namespace

bool device_available() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  cudaGetLastError();  // "no device" must not fail a later launch check
  return ok;
}

std::string device_description() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device (") + cudaGetErrorString(e) + ")";
  }
  if (n == 0) return "no CUDA device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "CUDA device 0 (properties unavailable)";
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f", static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
#if defined(GRETA_HIP)
  const std::string arch = p.gcnArchName;  // "gfx942:sramecc+:xnack-" on an MI300X
  const std::string units = " CUs, ";
#else
  const std::string arch = "sm_" + std::to_string(p.major) + std::to_string(p.minor);
  const std::string units = " SMs, ";
#endif
  return std::string(p.name) + " (" + arch + ", " + std::to_string(p.multiProcessorCount) + units + mem + " GiB)";
}

struct CudaBackend::Impl {
  cudaStream_t stream = nullptr;
  bool use_graph = true;

  // Weights by host view (a tied output shares token_embd's view, and its upload). The views
  // point into the mapped file, which outlives the backend.
  using ViewKey = std::tuple<const uint8_t*, TensorType, int64_t, int64_t, int64_t>;
  std::map<ViewKey, std::unique_ptr<GpuWeight>> weights;
  int64_t weight_bytes = 0;
  std::vector<DevBuf> activations;
  int64_t activation_bytes = 0;

  backend::KvSpec kv_spec;
  DevBuf kv_k, kv_v;
  DevKvPool kv;

  DevBuf rope_cos, rope_sin;  // [n_pos, n_rot/2] f32
  int32_t rope_n_rot = 0;
  int32_t rope_n_pos = 0;
  bool rope_neox = false;
  bool rope_ready = false;

  // Batch metadata: one int32 buffer [header | tokens | pos | seq | fresh_row0 | out_rows | tables],
  // row sections of cap_rows entries, tables of cap_tables; the header holds the table stride.
  static constexpr int64_t kHeader = 4;
  DevBuf meta;
  int64_t cap_rows = 0, cap_tables = 0;
  // Two pinned staging copies, used in turn: set_batch writes one while the upload from the other
  // may still be queued (prefill micro-batches run without a synchronisation between them); an
  // event per copy marks when its upload has been done.
  PinnedBuf meta_host[2];
  cudaEvent_t meta_done[2] = {nullptr, nullptr};
  bool meta_pending[2] = {false, false};
  int meta_turn = 0;

  // The sample op: the rows to sample and their ids, on the device and pinned on the host;
  // logits rows sampled on the host (candidate sets larger than the device's).
  int64_t sample_cap = 0;
  DevBuf sample_rows, sample_ids;
  PinnedBuf sample_rows_host, sample_ids_host;
  std::vector<float> fallback_logits;
  backend::SampleScratch sample_scratch;
  DevBatch batch;
  int32_t n_rows = 0, n_out = 0;
  bool fresh = false;

  // Recorded steps. A key is run directly the first time it is seen and recorded the second,
  // so one-off shapes (a prompt's last chunk) cost no capture.
  struct Graph {
    cudaGraphExec_t exec = nullptr;
  };
  static constexpr size_t kMaxGraphs = 64;
  std::map<std::tuple<int32_t, int32_t, bool, bool>, Graph> graphs;  // StepKey + attn_split

  ~Impl() {
    drop_graphs();
    if (stream != nullptr) {
      cudaStreamSynchronize(stream);
      cudaStreamDestroy(stream);
    }
    for (cudaEvent_t e : meta_done) {
      if (e != nullptr) cudaEventDestroy(e);
    }
  }

  void sync(const char* what) { check(cudaStreamSynchronize(stream), what); }

  void drop_graphs() {
    for (auto& [key, g] : graphs) {
      if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
    }
    graphs.clear();
  }

  bool capturing() const {
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream, &st), "querying the stream");
    return st != cudaStreamCaptureStatusNone;
  }

  const GpuWeight& dev(const Weight& w) const {
    GRETA_ASSERT_MSG(w.dev != nullptr, "weight not uploaded to the CUDA backend");
    return *static_cast<const GpuWeight*>(w.dev);
  }
  const float* vec(const Weight& w, int64_t n) const {
    const GpuWeight& g = dev(w);
    GRETA_ASSERT_MSG(g.vec != nullptr && g.m.cols == n, "an f32 vector of the tensor's width expected");
    return g.vec;
  }

  std::unique_ptr<GpuWeight> upload_weight(const WeightView& w, const std::string& name);
  DevBuf upload_bytes(const void* src, size_t bytes, const std::string& what) {
    DevBuf b(bytes, what);
    check(cudaMemcpyAsync(b.get(), src, bytes, cudaMemcpyHostToDevice, stream), "uploading " + what);
    sync("uploading");
    return b;
  }
  void grow_meta(int64_t rows, int64_t tables);

  // The matmul's activation scratch (launch_matmul).
  DevBuf mm_scratch;
  void* matmul_scratch(int64_t bytes) { return grow(mm_scratch, bytes, "the matmul scratch"); }
  // The attention's chunk states when few rows split their chunks over warps (launch_attention),
  // and the chunks of the longest sequence the block tables allow (set_batch).
  DevBuf attn_part;
  int32_t attn_max_chunks = 0;
  bool attn_split = false;  // the current batch has a row past kAttnSplitPos

  // A scratch buffer of at least `bytes`, grown outside recorded steps: a step is run directly
  // the first time its key is seen, which sizes the buffer for its replays.
  void* grow(DevBuf& buf, int64_t bytes, const std::string& what) {
    if (bytes <= 0) return nullptr;
    if (static_cast<size_t>(bytes) > buf.bytes()) {
      GRETA_ASSERT_MSG(!capturing(), "a scratch buffer grew inside a recorded step");
      sync(("growing " + what).c_str());
      drop_graphs();  // they hold the old address
      buf = DevBuf();
      buf = DevBuf(static_cast<size_t>(std::max<int64_t>(bytes, int64_t{1} << 20)), what);
    }
    return buf.get();
  }
};

std::unique_ptr<GpuWeight> CudaBackend::Impl::upload_weight(const WeightView& w, const std::string& name) {
  auto g = std::make_unique<GpuWeight>();
  g->m.rows = w.rows;
  g->m.cols = w.cols;
  const std::string what = "tensor " + name;
  switch (w.type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: {
      // Rows padded to 8 elements so that every 8-element group load is 16-byte aligned.
      g->m.type = float_dev_type(w.type);
      g->m.ld = round_up(w.cols, 8);
      const int64_t esize = w.type == TensorType::F32 ? 4 : 2;
      std::vector<uint8_t> padded(static_cast<size_t>(w.rows * g->m.ld * esize), 0);
      for (int64_t r = 0; r < w.rows; ++r) {
        std::memcpy(&padded[r * g->m.ld * esize], w.data + r * w.row_bytes, static_cast<size_t>(w.cols * esize));
      }
      g->data = upload_bytes(padded.data(), padded.size(), what);
      break;
    }
    default: {
      // Block types: their GGUF bytes, split per block into plane A (the quants, 16-byte aligned
      // vectors) and plane B (scales and high bits) of one allocation: the file's size exactly.
      const std::optional<DevWeightType> t = block_dev_type(w.type);
      if (!t) fail("tensor " + name + ": type " + tensor_type_name(w.type) + " not supported by the CUDA backend");
      const BlockSplit sp = block_split(*t);
      const int64_t nb = w.cols / sp.block_elems;
      GRETA_ASSERT(nb * sp.block_elems == w.cols && w.row_bytes == nb * sp.block_bytes);
      const int64_t n_blocks = w.rows * nb;
      std::vector<uint8_t> planes(static_cast<size_t>(n_blocks * sp.block_bytes));
      uint8_t* pa = planes.data();
      uint8_t* pb = pa + n_blocks * sp.a_len;
      for (int64_t r = 0; r < w.rows; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int64_t i = 0; i < nb; ++i, pa += sp.a_len) {
          const uint8_t* blk = row + i * sp.block_bytes;
          std::memcpy(pa, blk + sp.a_off, static_cast<size_t>(sp.a_len));
          std::memcpy(pb, blk, static_cast<size_t>(sp.a_off));
          pb += sp.a_off;
          const int tail = sp.block_bytes - sp.a_off - sp.a_len;
          std::memcpy(pb, blk + sp.a_off + sp.a_len, static_cast<size_t>(tail));
          pb += tail;
        }
      }
      g->m.type = *t;
      g->m.ld = w.cols;
      g->data = upload_bytes(planes.data(), planes.size(), what);
      g->m.aux = g->data.get<uint8_t>() + n_blocks * sp.a_len;
      break;
    }
  }
  g->m.data = g->data.get();
  if (w.rows == 1 && w.type == TensorType::F32) g->vec = g->data.get<float>();
  return g;
}

void CudaBackend::Impl::grow_meta(int64_t rows, int64_t tables) {
  if (rows <= cap_rows && tables <= cap_tables) return;
  // New addresses: recorded steps would read the old buffer.
  GRETA_ASSERT_MSG(!capturing(), "set_batch grew the batch buffers inside a recorded step");
  sync("growing the batch buffers");
  drop_graphs();
  cap_rows = std::max<int64_t>({rows, cap_rows, 256});
  cap_tables = std::max<int64_t>({tables, 2 * cap_tables, 1024});
  const int64_t n = kHeader + 5 * cap_rows + cap_tables;
  meta = DevBuf(static_cast<size_t>(n) * sizeof(int32_t), "the batch metadata");
  check(cudaMemsetAsync(meta.get(), 0, meta.bytes(), stream), "clearing the batch metadata");
  for (int i = 0; i < 2; ++i) {
    meta_host[i] = PinnedBuf(static_cast<size_t>(n) * sizeof(int32_t));
    std::memset(meta_host[i].get<int32_t>(), 0, meta_host[i].bytes());
    meta_pending[i] = false;  // the stream was synchronised above
  }
  const int32_t* base = meta.get<int32_t>();
  batch.table_stride = base;
  batch.tokens = base + kHeader;
  batch.pos = batch.tokens + cap_rows;
  batch.seq = batch.pos + cap_rows;
  batch.fresh_row0 = batch.seq + cap_rows;
  batch.out_rows = batch.fresh_row0 + cap_rows;
  batch.tables = batch.out_rows + cap_rows;
}

CudaBackend::CudaBackend(const backend::BackendOptions& options) : impl_(std::make_unique<Impl>()) {
  if (!device_available()) fail("the CUDA backend needs a GPU: " + device_description());
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "creating a stream");
  for (cudaEvent_t& e : impl_->meta_done) check(cudaEventCreate(&e), "creating an event");
  const char* g = std::getenv("GRETA_CUDA_GRAPH");
  impl_->use_graph = !(g != nullptr && std::string(g) == "0");
}

CudaBackend::~CudaBackend() = default;

std::string CudaBackend::describe() const { return device_description(); }

void CudaBackend::upload(Weight& w, const std::string& name) {
  Impl& s = *impl_;
  if (!w.present()) {
    w.dev = nullptr;
    return;
  }
  const Impl::ViewKey key{w.host.data, w.host.type, w.host.rows, w.host.cols, w.host.row_bytes};
  auto it = s.weights.find(key);
  if (it == s.weights.end()) {
    auto g = s.upload_weight(w.host, name);
    s.weight_bytes += static_cast<int64_t>(g->data.bytes());
    it = s.weights.emplace(key, std::move(g)).first;
  }
  w.dev = it->second.get();
}

Tensor CudaBackend::alloc(int64_t rows, int64_t cols) {
  Impl& s = *impl_;
  GRETA_ASSERT(rows >= 0 && cols >= 0);
  const int64_t ld = round_up(cols, 4);
  const size_t bytes = static_cast<size_t>(rows * ld) * sizeof(float);
  DevBuf b(bytes, "an activation buffer [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  check(cudaMemsetAsync(b.get(), 0, b.bytes() == 0 ? 16 : b.bytes(), s.stream), "clearing an activation buffer");
  Tensor t{b.get<float>(), rows, cols, ld};
  s.activation_bytes += static_cast<int64_t>(bytes);
  s.activations.push_back(std::move(b));
  return t;
}

void CudaBackend::kv_init(const backend::KvSpec& spec) {
  Impl& s = *impl_;
  if (spec.head_dim <= 0 || spec.head_dim > 256) {
    fail("head_dim " + std::to_string(spec.head_dim) + " not supported by the CUDA backend (at most 256)");
  }
  GRETA_ASSERT(spec.n_layer > 0 && spec.n_blocks > 0 && spec.n_kv_head > 0);
  s.sync("replacing the KV cache");
  s.drop_graphs();
  s.kv = DevKvPool{};  // no pool until both allocations succeed
  s.kv_k = DevBuf();
  s.kv_v = DevBuf();
  const size_t half = static_cast<size_t>(spec.bytes() / 2);
  const std::string what = "the KV cache (" + std::to_string(spec.n_blocks) + " blocks of " +
                           std::to_string(backend::kKvBlock) + " positions, " + kv_type_name(spec.type) + ", K and V)";
  s.kv_k = DevBuf(half, what);
  s.kv_v = DevBuf(half, what);
  // Unwritten slots are never read (attention stops at pos), but zeros keep NaN patterns out.
  check(cudaMemsetAsync(s.kv_k.get(), 0, half, s.stream), "clearing the KV cache");
  check(cudaMemsetAsync(s.kv_v.get(), 0, half, s.stream), "clearing the KV cache");
  s.kv_spec = spec;
  s.kv = DevKvPool{to_dev(spec.type), spec.n_layer, spec.n_blocks, spec.n_kv_head, spec.head_dim, s.kv_k.get(),
                   s.kv_v.get()};
}

void CudaBackend::rope_init(const backend::RopeParams& params, int32_t n_pos) {
  Impl& s = *impl_;
  GRETA_ASSERT(params.n_rot >= 0 && params.n_rot % 2 == 0 && n_pos >= 0);
  s.sync("replacing the rotary table");
  s.drop_graphs();
  // The CPU's table (f64 angles rounded to f32), so both backends rotate by the same values.
  const ops::RopeTable table(params, n_pos);
  const size_t bytes = static_cast<size_t>(n_pos) * static_cast<size_t>(params.n_rot / 2) * sizeof(float);
  s.rope_cos = s.upload_bytes(table.cos_row(0), bytes, "the rotary table");
  s.rope_sin = s.upload_bytes(table.sin_row(0), bytes, "the rotary table");
  s.rope_n_rot = params.n_rot;
  s.rope_n_pos = n_pos;
  s.rope_neox = params.type == backend::RopeType::NeoX;
  s.rope_ready = true;
}

void CudaBackend::kv_copy_block(int32_t src, int32_t dst) {
  Impl& s = *impl_;
  const backend::KvSpec& k = s.kv_spec;
  GRETA_ASSERT(s.kv.k != nullptr && src >= 0 && src < k.n_blocks && dst >= 0 && dst < k.n_blocks);
  GRETA_ASSERT_MSG(!s.capturing(), "kv_copy_block inside a recorded step");
  if (src == dst) return;
  // One strided copy per pool: n_layer rows of one block each.
  const size_t block_bytes = static_cast<size_t>(k.block_elements() * kv_type_size(k.type));
  const size_t pitch = block_bytes * static_cast<size_t>(k.n_blocks);
  for (void* pool : {s.kv.k, s.kv.v}) {
    auto* base = static_cast<uint8_t*>(pool);
    check(cudaMemcpy2DAsync(base + dst * block_bytes, pitch, base + src * block_bytes, pitch, block_bytes,
                            static_cast<size_t>(k.n_layer), cudaMemcpyDeviceToDevice, s.stream),
          "copying a KV block");
  }
}

int64_t CudaBackend::memory_bytes() const {
  const MemoryUse u = memory_use();
  return u.weights + u.kv_cache + u.scratch;
}

CudaBackend::MemoryUse CudaBackend::memory_use() const {
  const Impl& s = *impl_;
  return {s.weight_bytes, static_cast<int64_t>(s.kv_k.bytes() + s.kv_v.bytes()),
          s.activation_bytes + static_cast<int64_t>(s.rope_cos.bytes() + s.rope_sin.bytes() + s.meta.bytes() +
                                                    s.mm_scratch.bytes() + s.attn_part.bytes())};
}

void CudaBackend::set_batch(const backend::BatchRows& rows) {
  Impl& s = *impl_;
  GRETA_ASSERT(rows.n_rows >= 0 && rows.n_out >= 0 && rows.n_tables >= 0 && rows.table_stride >= 0);
  const int64_t n_tables = int64_t{rows.n_tables} * rows.table_stride;
  s.grow_meta(std::max(rows.n_rows, rows.n_out), n_tables);
  // Attention chunks of 256 positions (8 blocks) of the longest sequence the tables allow; the
  // recorded steps' launches are shaped by it (a context keeps one table stride).
  const int32_t chunks = (rows.table_stride + 7) / 8;
  if (chunks != s.attn_max_chunks) {
    GRETA_ASSERT_MSG(!s.capturing(), "set_batch inside a recorded step");
    s.drop_graphs();
    s.attn_max_chunks = chunks;
  }
  // Whether some row is past position kAttnSplitPos (GRETA_CUDA_ATTN_SPLIT_POS overrides it):
  // only then do few rows spread their chunks over warps (launch_attention's parallel form: the
  // same bits, so only a matter of speed; with 1-3 chunks most of its 8 warps per (row, head)
  // idle: llama-7b Q8_0 tg128 after pp512 on an H200, 142.9 t/s split from position 256 against
  // 155.9 unsplit). Steps are recorded per form.
  int32_t max_pos = 0;
  for (int32_t i = 0; i < rows.n_rows; ++i) max_pos = std::max(max_pos, rows.pos[i]);
  const char* split_env = std::getenv("GRETA_CUDA_ATTN_SPLIT_POS");
  s.attn_split = max_pos >= (split_env != nullptr ? std::atoi(split_env) : kAttnSplitPos);
  const int64_t cap = s.cap_rows;
  // The staging copy whose upload was queued two batches ago: done by now, unless the batches
  // came without a synchronisation between them (then this waits for that upload only).
  const int turn = s.meta_turn;
  s.meta_turn ^= 1;
  if (s.meta_pending[turn]) check(cudaEventSynchronize(s.meta_done[turn]), "waiting for a batch upload");
  int32_t* h = s.meta_host[turn].get<int32_t>();
  h[0] = rows.table_stride;
  int32_t* tok = h + Impl::kHeader;
  auto put = [&](int32_t* dst, const int32_t* src, int64_t n) {
    if (src != nullptr && n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(int32_t));
  };
  put(tok, rows.tokens, rows.n_rows);
  put(tok + cap, rows.pos, rows.n_rows);
  put(tok + 2 * cap, rows.seq, rows.n_rows);
  put(tok + 3 * cap, rows.fresh_row0, rows.n_rows);
  put(tok + 4 * cap, rows.out_rows, rows.n_out);
  put(tok + 5 * cap, rows.block_tables, n_tables);
  // Pinned source: the call returns at once (no host synchronisation); the device copy is ordered
  // after the previous step's kernels on the stream, and the event tells when the staging copy
  // may be written again.
  const size_t n = static_cast<size_t>(Impl::kHeader + 5 * cap + n_tables) * sizeof(int32_t);
  check(cudaMemcpyAsync(s.meta.get(), h, n, cudaMemcpyHostToDevice, s.stream), "uploading the batch");
  check(cudaEventRecord(s.meta_done[turn], s.stream), "recording a batch upload");
  s.meta_pending[turn] = true;
  s.n_rows = rows.n_rows;
  s.n_out = rows.n_out;
  s.fresh = rows.fresh_row0 != nullptr;
}

void CudaBackend::run_step(const backend::StepKey& key, const std::function<void()>& fn) {
  Impl& s = *impl_;
  if (!key.replayable || !s.use_graph) {
    fn();
    return;
  }
  GRETA_ASSERT_MSG(key.n_rows == s.n_rows && key.n_out == s.n_out && key.fresh == s.fresh,
                   "run_step: the key does not describe the batch given to set_batch");
  const auto k = std::make_tuple(key.n_rows, key.n_out, key.fresh, s.attn_split);
  auto it = s.graphs.find(k);
  if (it == s.graphs.end()) {
    if (s.graphs.size() < Impl::kMaxGraphs) s.graphs.emplace(k, Impl::Graph{});
    fn();
    return;
  }
  if (it->second.exec == nullptr) {
    cudaGraph_t g = nullptr;
    check(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeThreadLocal), "recording a step");
    try {
      fn();
    } catch (...) {
      cudaStreamEndCapture(s.stream, &g);
      if (g != nullptr) cudaGraphDestroy(g);
      cudaGetLastError();
      throw;
    }
    check(cudaStreamEndCapture(s.stream, &g), "recording a step");
    const cudaError_t e = cudaGraphInstantiate(&it->second.exec, g, 0);
    cudaGraphDestroy(g);
    check(e, "instantiating a recorded step");
  }
  check(cudaGraphLaunch(it->second.exec, s.stream), "replaying a recorded step");
}

void CudaBackend::read(const Tensor& t, float* host) {
  Impl& s = *impl_;
  if (t.rows > 0 && t.cols > 0) {
    check(cudaMemcpy2DAsync(host, static_cast<size_t>(t.cols) * sizeof(float), t.data,
                            static_cast<size_t>(t.ld) * sizeof(float), static_cast<size_t>(t.cols) * sizeof(float),
                            static_cast<size_t>(t.rows), cudaMemcpyDeviceToHost, s.stream),
          "downloading a tensor");
  }
  s.sync("running the step");
}

void CudaBackend::sample(const Tensor& logits, std::span<const backend::SampleRow> samples, int32_t* ids) {
  Impl& s = *impl_;
  const auto n = static_cast<int64_t>(samples.size());
  const auto n_vocab = static_cast<int32_t>(logits.cols);
  if (n == 0) {
    s.sync("running the step");
    return;
  }
  GRETA_ASSERT_MSG(!s.capturing(), "sample inside a recorded step");
  if (n > s.sample_cap) {
    s.sync("growing the sampling buffers");  // nothing queued may still use the old ones
    s.sample_cap = std::max<int64_t>({n, 2 * s.sample_cap, 64});
    s.sample_rows = DevBuf(static_cast<size_t>(s.sample_cap) * sizeof(DevSampleRow), "the sampling rows");
    s.sample_ids = DevBuf(static_cast<size_t>(s.sample_cap) * sizeof(int32_t), "the sampled ids");
    s.sample_rows_host = PinnedBuf(static_cast<size_t>(s.sample_cap) * sizeof(DevSampleRow));
    s.sample_ids_host = PinnedBuf(static_cast<size_t>(s.sample_cap) * sizeof(int32_t));
  }
  // The pinned copies are free: the previous sample call ended with a synchronisation.
  auto* rows = s.sample_rows_host.get<DevSampleRow>();
  std::vector<int64_t> on_host;  // samples whose candidate set exceeds the device's
  for (int64_t i = 0; i < n; ++i) {
    const backend::SampleRow& r = samples[static_cast<size_t>(i)];
    GRETA_ASSERT(r.row >= 0 && r.row < logits.rows);
    rows[i] = DevSampleRow{r.row, r.params.top_k, r.params.temp, r.params.top_p, r.params.min_p,
                           backend::sample_log_min_p(r.params), r.u};
    if (!device_samples(rows[i], n_vocab)) on_host.push_back(i);
  }
  check(cudaMemcpyAsync(s.sample_rows.get(), rows, static_cast<size_t>(n) * sizeof(DevSampleRow),
                        cudaMemcpyHostToDevice, s.stream),
        "uploading the sampling rows");
  launch_sample(s.stream, logits.data, logits.ld, n_vocab, s.sample_rows.get<DevSampleRow>(), static_cast<int32_t>(n),
                s.sample_ids.get<int32_t>());
  check(cudaMemcpyAsync(s.sample_ids_host.get<int32_t>(), s.sample_ids.get(), static_cast<size_t>(n) * sizeof(int32_t),
                        cudaMemcpyDeviceToHost, s.stream),
        "downloading the sampled ids");
  s.fallback_logits.resize(on_host.size() * static_cast<size_t>(n_vocab));
  for (size_t j = 0; j < on_host.size(); ++j) {
    const float* src = logits.data + int64_t{rows[on_host[j]].row} * logits.ld;
    check(cudaMemcpyAsync(s.fallback_logits.data() + j * static_cast<size_t>(n_vocab), src,
                          static_cast<size_t>(n_vocab) * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
          "downloading a logits row");
  }
  s.sync("sampling");  // the step's one synchronisation
  std::memcpy(ids, s.sample_ids_host.get<int32_t>(), static_cast<size_t>(n) * sizeof(int32_t));
  for (size_t j = 0; j < on_host.size(); ++j) {
    const backend::SampleRow& r = samples[static_cast<size_t>(on_host[j])];
    ids[on_host[j]] = backend::sample_row(s.fallback_logits.data() + j * static_cast<size_t>(n_vocab), n_vocab, r.params,
                                          r.u, s.sample_scratch);
  }
}

void CudaBackend::write(const Tensor& t, const float* host) {
  Impl& s = *impl_;
  if (t.rows > 0 && t.cols > 0) {
    check(cudaMemcpy2DAsync(t.data, static_cast<size_t>(t.ld) * sizeof(float), host,
                            static_cast<size_t>(t.cols) * sizeof(float), static_cast<size_t>(t.cols) * sizeof(float),
                            static_cast<size_t>(t.rows), cudaMemcpyHostToDevice, s.stream),
          "uploading a tensor");
  }
  s.sync("uploading a tensor");
}

void CudaBackend::read_kv_pool(std::vector<uint8_t>& k, std::vector<uint8_t>& v) {
  Impl& s = *impl_;
  k.resize(s.kv_k.bytes());
  v.resize(s.kv_v.bytes());
  check(cudaMemcpyAsync(k.data(), s.kv.k, k.size(), cudaMemcpyDeviceToHost, s.stream), "downloading the KV cache");
  check(cudaMemcpyAsync(v.data(), s.kv.v, v.size(), cudaMemcpyDeviceToHost, s.stream), "downloading the KV cache");
  s.sync("downloading the KV cache");
}

int CudaBackend::graphs_recorded() const {
  int n = 0;
  for (const auto& [key, g] : impl_->graphs) n += g.exec != nullptr;
  return n;
}

// ---- Ops ----

void CudaBackend::embed(const Weight& table, Tensor out) {
  const Impl& s = *impl_;
  const DevMatrix& m = s.dev(table).m;
  GRETA_ASSERT(out.cols == m.cols && out.rows <= s.n_rows);
  launch_embed(s.stream, m, s.batch, out.rows, out.data, out.ld);
}

void CudaBackend::get_rows(Tensor src, Tensor dst) {
  const Impl& s = *impl_;
  GRETA_ASSERT(dst.cols == src.cols && dst.rows <= s.n_out);
  launch_get_rows(s.stream, s.batch, dst.rows, src.data, src.ld, src.cols, dst.data, dst.ld);
}

void CudaBackend::matmul(const Weight& w, Tensor x, Tensor y, bool accumulate) {
  Impl& s = *impl_;
  const DevMatrix& m = s.dev(w).m;
  GRETA_ASSERT(x.cols == m.cols && y.cols == m.rows && y.rows == x.rows);
  // The kernel loads activations in 16-byte groups.
  GRETA_ASSERT_MSG(reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && x.ld % 4 == 0,
                   "matmul: activation rows must be 16-byte aligned");
  launch_matmul(s.stream, m, x.data, x.ld, x.rows, y.data, y.ld, accumulate,
                s.matmul_scratch(matmul_scratch_bytes(m, x.rows)));
}

void CudaBackend::matmul_multi(std::span<const backend::MatmulOut> outs, Tensor x) {
  Impl& s = *impl_;
  GRETA_ASSERT(outs.size() <= static_cast<size_t>(kMaxMulti));
  GRETA_ASSERT_MSG(reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && x.ld % 4 == 0,
                   "matmul: activation rows must be 16-byte aligned");
  DevMatmulOut d[kMaxMulti];
  int64_t scratch = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const DevMatrix& m = s.dev(*outs[i].w).m;
    const Tensor& y = outs[i].y;
    GRETA_ASSERT(x.cols == m.cols && y.cols == m.rows && y.rows == x.rows);
    d[i] = DevMatmulOut{m, y.data, y.ld};
    scratch = std::max(scratch, matmul_scratch_bytes(m, x.rows));
  }
  // One launch for outputs of one type (QKV, gate/up); each output's rows run the same warp code
  // as matmul alone, so the bits are the same.
  launch_matmul_multi(s.stream, d, static_cast<int>(outs.size()), x.data, x.ld, x.rows, s.matmul_scratch(scratch));
}

void CudaBackend::rms_norm(Tensor x, const Weight& w, Tensor y, float eps) {
  const Impl& s = *impl_;
  GRETA_ASSERT(y.cols == x.cols && y.rows == x.rows);
  launch_rms_norm(s.stream, x.data, x.ld, s.vec(w, x.cols), y.data, y.ld, x.rows, x.cols, eps);
}

void CudaBackend::add(Tensor x, Tensor y) {
  GRETA_ASSERT(y.cols == x.cols && y.rows == x.rows);
  launch_add(impl_->stream, x.data, x.ld, y.data, y.ld, x.rows, x.cols);
}

void CudaBackend::add_bias(Tensor y, const Weight& b) {
  const Impl& s = *impl_;
  launch_add_bias(s.stream, y.data, y.ld, s.vec(b, y.cols), y.rows, y.cols);
}

void CudaBackend::rope(Tensor x, int32_t n_heads, int32_t head_dim) {
  const Impl& s = *impl_;
  GRETA_ASSERT_MSG(s.rope_ready, "rope before rope_init");
  GRETA_ASSERT(s.rope_n_rot <= head_dim && int64_t{n_heads} * head_dim <= x.cols && x.rows <= s.n_rows);
  launch_rope(s.stream, x.data, x.ld, x.rows, n_heads, head_dim, s.rope_n_rot, s.rope_neox, s.rope_cos.get<float>(),
              s.rope_sin.get<float>(), s.batch);
}

void CudaBackend::swiglu(Tensor gate, Tensor up, Tensor out) {
  GRETA_ASSERT(up.cols == gate.cols && out.cols == gate.cols && up.rows == gate.rows && out.rows == gate.rows);
  launch_swiglu(impl_->stream, gate.data, gate.ld, up.data, up.ld, out.data, out.ld, gate.rows, gate.cols);
}

void CudaBackend::kv_store(int32_t layer, Tensor k, Tensor v) {
  const Impl& s = *impl_;
  const int64_t n_kv = int64_t{s.kv.n_kv_head} * s.kv.head_dim;
  GRETA_ASSERT_MSG(s.kv.k != nullptr, "kv_store before kv_init");
  GRETA_ASSERT(layer >= 0 && layer < s.kv.n_layer && k.cols == n_kv && v.cols == n_kv && v.rows == k.rows &&
               k.rows <= s.n_rows);
  launch_kv_store(s.stream, s.kv, layer, k.data, k.ld, v.data, v.ld, s.batch, k.rows);
}

void CudaBackend::attention(int32_t layer, const backend::AttnParams& p, Tensor q, Tensor k_fresh, Tensor v_fresh,
                            Tensor out) {
  Impl& s = *impl_;
  GRETA_ASSERT_MSG(s.kv.k != nullptr, "attention before kv_init");
  GRETA_ASSERT(layer >= 0 && layer < s.kv.n_layer && p.head_dim == s.kv.head_dim && p.n_kv_head == s.kv.n_kv_head &&
               p.n_head % p.n_kv_head == 0 && q.cols == int64_t{p.n_head} * p.head_dim && out.cols == q.cols &&
               out.rows == q.rows && q.rows <= s.n_rows);
  DevFresh fresh;
  if (s.fresh) fresh = DevFresh{true, k_fresh.data, k_fresh.ld, v_fresh.data, v_fresh.ld};
  const int64_t part = s.attn_split ? attention_part_floats(q.rows, p.n_head, p.head_dim, s.attn_max_chunks) : 0;
  float* part_buf = static_cast<float*>(s.grow(s.attn_part, part * int64_t{sizeof(float)}, "the attention chunk states"));
  launch_attention(s.stream, s.kv, layer, q.data, q.ld, p.n_head, p.scale, fresh, s.batch, q.rows, out.data, out.ld,
                   part_buf, s.attn_max_chunks);
}

void register_backend() {
  greta::register_backend(BackendFactory{
      .name = "cuda",
      .create = [](const backend::BackendOptions& options) -> std::unique_ptr<backend::Backend> {
        return std::make_unique<CudaBackend>(options);
      },
      .describe = [] { return device_description(); },
  });
}

}  // namespace greta::cuda
