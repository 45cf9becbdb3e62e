// greta_bench: prompt-processing and generation speed, reported against the machine's limits
// measured in the same run (read bandwidth for decode, f32 FMA peak for prefill).
//
//   greta_bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--dtype f32|f16|bf16]
//               [--kv-aligned 0|1] [--backend cpu|cuda] [--json]
//   -p, -n and -t take comma-separated lists, swept like llama-bench: for each thread count, one
//   prefill test per -p value and one generation test per -n value (a single -p and -n: one run
//   measuring both, as before).
//   greta_bench --kernel q8_0 --rows 2048 --cols 2048 --batch 1|512 [-t THREADS] [-r REPS] [--json]
//
// --backend cuda (CUDA builds): the same measurements on the GPU; the limit is the device's read
// bandwidth, measured in the same run by the backend's own streaming read kernel, and the JSON
// adds the device and the GPU memory held by the weights, the KV cache and the scratch buffers.
//
// The kernel mode times one matmul shape alone (weights cycled through a buffer far larger than
// the caches, so decode-shaped calls stream from memory like a real model).

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <ctime>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "greta/app/dump_metadata.h"
#include "greta/app/infer_options.h"
#include "greta/app/tool_cli.h"
#include "greta/core/error.h"
#include "greta/core/thread_pool.h"
#include "greta/cpu/bandwidth.h"
#include "greta/cpu/matmul.h"
#include "greta/quant/quant.h"
#include "greta/gguf/gguf_file.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/session.h"
#ifdef GRETA_HAVE_CUDA
#include "greta/cuda/cuda_backend.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// A parameter count in the unit that fits: 292.5K, 15.2M, 1.10B.
std::string format_params(int64_t n) {
  char buf[32];
  if (n < 1000000) {
    std::snprintf(buf, sizeof buf, "%.1fK", static_cast<double>(n) / 1e3);
  } else if (n < 1000000000) {
    std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fB", static_cast<double>(n) / 1e9);
  }
  return buf;
}

// A comma-separated list of integers in [lo, hi] (llama-bench's -p 128,512).
std::vector<int> parse_list(const std::string& text, const std::string& what, int lo, int hi) {
  std::vector<int> out;
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty()) {
      greta::fail(what + ": expected integers in " + std::to_string(lo) + ".." + std::to_string(hi) +
                      " separated by commas, got '" + text + "'",
                  greta::kExitUsage);
    }
    out.push_back(static_cast<int>(greta::parse_int_value(item, what, lo, hi)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

struct Stats {
  double median = 0, min = 0, max = 0;
};
Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

struct Limits {
  double bandwidth_gb_s = 0;
  double bandwidth_per_cpu_gb_s = 0;  // over each thread's CPU time
  int bandwidth_threads = 0;
  double fma_peak_gflops = 0;
};
// The read bandwidth is the machine's: every hardware thread reads (at least the run's threads),
// best of 5 passes (greta/cpu/bandwidth.h). The FMA peak is that of the run's threads.
Limits measure_limits(greta::ThreadPool& pool) {
  Limits l;
  {
    greta::ThreadPool all(std::max(pool.n_threads(), greta::cpu::hardware_threads()));
    l.bandwidth_threads = all.n_threads();
    l.bandwidth_gb_s = greta::cpu::measure_read_bandwidth(all, {}, &l.bandwidth_per_cpu_gb_s);
  }
  l.fma_peak_gflops = greta::cpu::measure_fma_peak_gflops(pool);
  return l;
}

// What a GPU run adds to the report: the device, and the device memory of the backend that ran
// the single-sequence tests (recorded when the backend is created: a "cuda" factory wrapping the
// library's, so the library keeps no global pointer).
struct GpuInfo {
  std::string device;
  int64_t weights = 0, kv_cache = 0, scratch = 0;
};
#ifdef GRETA_HAVE_CUDA
greta::cuda::CudaBackend* g_last_cuda = nullptr;
void register_recording_cuda_backend() {
  greta::cuda::register_backend();
  const greta::BackendFactory* lib = greta::find_backend("cuda");
  greta::register_backend(greta::BackendFactory{
      .name = "cuda",
      .create = [](const greta::backend::BackendOptions& o) -> std::unique_ptr<greta::backend::Backend> {
        auto be = std::make_unique<greta::cuda::CudaBackend>(o);
        g_last_cuda = be.get();
        return be;
      },
      .describe = lib != nullptr ? lib->describe : std::function<std::string()>{},
  });
}
GpuInfo gpu_info() {
  GpuInfo g;
  g.device = greta::cuda::device_description();
  if (g_last_cuda != nullptr) {
    const auto u = g_last_cuda->memory_use();
    g.weights = u.weights;
    g.kv_cache = u.kv_cache;
    g.scratch = u.scratch;
  }
  return g;
}
#endif

int run_kernel(const std::string& type_name, int64_t rows, int64_t cols, int64_t batch, int threads, int reps,
               bool hot, bool json) {
  using namespace greta;
  const auto t = tensor_type_from_name(type_name);
  if (!t || !tensor_type_info(*t).is_storage_type) fail("--kernel '" + type_name + "' is not a storage type", kExitUsage);
  if (cols % tensor_type_info(*t).block_size != 0) fail("--cols must be a multiple of the type's block size", kExitUsage);
  const int64_t rb = tensor_row_bytes(*t, cols);
  const int64_t mat_bytes = rows * rb;
  // Enough copies of the matrix to exceed the caches many times over.
  const int64_t copies = hot ? 1 : std::max<int64_t>(1, (int64_t{512} << 20) / mat_bytes);
  std::vector<uint8_t> w(static_cast<size_t>(mat_bytes * copies));
  {
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = nd(rng);
      quantize_row(*t, row.data(), w.data() + r * rb, cols);
    }
    for (int64_t c = 1; c < copies; ++c) std::copy_n(w.data(), mat_bytes, w.data() + c * mat_bytes);
  }
  std::vector<float> x(static_cast<size_t>(batch * cols)), y(static_cast<size_t>(batch * rows));
  {
    std::mt19937 rng(2);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& v : x) v = nd(rng);
  }
  ThreadPool pool(threads);
  cpu::MatmulScratch scratch;
  const Limits lim = measure_limits(pool);
  // Each rep: enough calls to take ~0.3 s, cycling through the copies.
  auto call = [&](int64_t i) {
    cpu::WeightMatrix wm{*t, rows, cols, rb, w.data() + (i % copies) * mat_bytes};
    cpu::matmul(wm, x.data(), cols, batch, y.data(), rows, pool, scratch);
  };
  auto t0 = Clock::now();
  int64_t calls = 0;
  while (seconds_since(t0) < 0.1) call(calls++);
  const int64_t per_rep = std::max<int64_t>(1, static_cast<int64_t>(calls * 3));
  std::vector<double> secs, cpu_secs;
  int64_t i = 0;
  for (int r = 0; r < reps; ++r) {
    t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    for (int64_t c = 0; c < per_rep; ++c) call(i++);
    secs.push_back(seconds_since(t0) / static_cast<double>(per_rep));
    cpu_secs.push_back((process_cpu_seconds() - c0) / threads / static_cast<double>(per_rep));
  }
  const Stats s = stats_of(secs);
  // Compute speed per CPU-second of each thread (robust to time slices lost on a shared machine;
  // includes the pool's spin-waiting).
  const double cpu_s = stats_of(cpu_secs).median;
  const double gflops_cpu = 2.0 * batch * rows * cols / cpu_s / 1e9;
  const double gb_s = static_cast<double>(mat_bytes) / s.median / 1e9;
  const double gflops = 2.0 * batch * rows * cols / s.median / 1e9;
  if (json) {
    nlohmann::json j = {{"kernel", tensor_type_name(*t)}, {"rows", rows}, {"cols", cols}, {"batch", batch},
                        {"threads", threads}, {"us_per_call", s.median * 1e6}, {"us_min", s.min * 1e6},
                        {"us_max", s.max * 1e6}, {"weight_gb_s", gb_s}, {"bandwidth_gb_s", lim.bandwidth_gb_s},
                        {"fraction_of_bandwidth", gb_s / lim.bandwidth_gb_s}, {"gflops", gflops},
                        {"fma_peak_gflops", lim.fma_peak_gflops}, {"fraction_of_fma_peak", gflops / lim.fma_peak_gflops},
                        {"gflops_per_cpu_time", gflops_cpu},
                        {"weight_gb_s_per_cpu_time", static_cast<double>(mat_bytes) / cpu_s / 1e9},
                        {"bandwidth_gb_s_per_cpu_time", lim.bandwidth_per_cpu_gb_s}, {"fraction_of_fma_peak_cpu_time", gflops_cpu / lim.fma_peak_gflops},
                        {"bandwidth_threads", lim.bandwidth_threads},
                        {"simd_target", cpu::bandwidth_simd_target()}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf("kernel %s  %lld x %lld  batch %lld  threads %d  (%s)\n", tensor_type_name(*t), (long long)rows,
                (long long)cols, (long long)batch, threads, cpu::bandwidth_simd_target());
    std::printf("  time/call  %.1f us (min %.1f, max %.1f over %d reps)\n", s.median * 1e6, s.min * 1e6, s.max * 1e6, reps);
    std::printf("  weights    %.1f GB/s = %.0f%% of read bandwidth %.1f GB/s\n", gb_s, 100 * gb_s / lim.bandwidth_gb_s,
                lim.bandwidth_gb_s);
    std::printf("  compute    %.1f GFLOP/s = %.0f%% of f32 FMA peak %.1f GFLOP/s\n", gflops,
                100 * gflops / lim.fma_peak_gflops, lim.fma_peak_gflops);
    // cpu_s is already the CPU time per thread (process CPU time / threads): the rate of all
    // threads together, comparable with the per-CPU-second bandwidth of the same threads.
    const double wgb_cpu = static_cast<double>(mat_bytes) / cpu_s / 1e9;
    std::printf("  cpu time   %.1f GB/s of weights per CPU-second of the %d threads = %.0f%% of read bandwidth %.1f GB/s"
                " per CPU-second\n", wgb_cpu, threads, 100 * wgb_cpu / lim.bandwidth_per_cpu_gb_s, lim.bandwidth_per_cpu_gb_s);
    std::printf("  cpu time   %.1f GFLOP/s per CPU-second = %.0f%% of the peak (%.0f%% of wall time on CPU)\n",
                gflops_cpu, 100 * gflops_cpu / lim.fma_peak_gflops, 100 * cpu_s / s.median);
  }
  return 0;
}

// Bytes of every tensor in the file (what a backend that copies the weights holds at best).
int64_t file_tensor_bytes(const greta::LoadedModel& lm) {
  int64_t n = 0;
  for (const auto& t : lm.file->tensors()) n += static_cast<int64_t>(t.n_bytes);
  return n;
}

// Aggregate decode rate of `parallel` sequences advancing together: each step is one
// Context::decode of one row per sequence (the weights are read once per step for all of them).
// Each sequence starts from a 1-token prompt; the median over reps of tokens/s (all sequences).
double parallel_decode_rate(const greta::LoadedModel& lm, const greta::SessionOptions& so, int parallel, int n_gen,
                            int reps, const std::vector<greta::TokenId>& prompt) {
  using namespace greta;
  ContextOptions co;
  co.n_ctx = n_gen + 2;
  co.n_seq_max = parallel;
  co.kv_dtype = so.kv_dtype;
  co.kv_aligned = so.kv_aligned;
  co.n_threads = so.n_threads;
  co.backend = so.backend;
  Context ctx(lm, co);
  std::vector<double> rates;
  std::vector<BatchRow> rows(static_cast<size_t>(parallel));
  // Each sequence samples its next token on the backend (only the ids come back), as
  // greta_batched does; the fed tokens stay the prompt's, so every run does the same work.
  std::vector<Sampler> samplers;
  for (int i = 0; i < parallel; ++i) samplers.emplace_back(SamplerParams{}, static_cast<uint64_t>(i + 1));
  std::vector<RowSample> samples(static_cast<size_t>(parallel));
  std::vector<TokenId> ids(static_cast<size_t>(parallel));
  const auto step = [&] {
    for (int i = 0; i < parallel; ++i) {
      rows[i].host_logits = false;
      samples[i] = {i, samplers[i].params(), samplers[i].peek_draw()};
    }
    ctx.decode(rows, samples, ids.data());
    for (Sampler& s : samplers) s.skip_draw();
  };
  for (int r = 0; r < reps; ++r) {
    std::vector<SeqId> seqs;
    for (int i = 0; i < parallel; ++i) seqs.push_back(ctx.seq_add());
    for (int i = 0; i < parallel; ++i) rows[i] = {seqs[i], 0, prompt[static_cast<size_t>(i) % prompt.size()], true};
    step();
    const auto t0 = Clock::now();
    for (int pos = 1; pos <= n_gen; ++pos) {
      for (int i = 0; i < parallel; ++i) {
        rows[i] = {seqs[i], pos, prompt[static_cast<size_t>(pos + i) % prompt.size()], true};
      }
      step();
    }
    rates.push_back(static_cast<double>(n_gen) * parallel / seconds_since(t0));
    for (SeqId s : seqs) ctx.seq_remove(s);
  }
  return stats_of(rates).median;
}

int run_model(const std::string& path, int n_prompt, int n_gen, int threads, int reps, const std::string& dtype,
              int kv_aligned, int parallel, const std::string& backend, bool json) {
  using namespace greta;
  KvDtype kv = KvDtype::BF16;
  if (dtype == "f32") kv = KvDtype::F32;
  else if (dtype == "f16") kv = KvDtype::F16;
  else if (dtype == "bf16") kv = KvDtype::BF16;
  else fail("--dtype '" + dtype + "': expected f32, f16 or bf16", kExitUsage);

  const auto t_load = Clock::now();
  const auto lm = load_model(path);
  const double load_s = seconds_since(t_load);
  const ModelStats& st = lm->stats;

  SessionOptions so;
  so.kv_dtype = kv;
  so.kv_aligned = kv_aligned != 0;
  so.n_threads = threads;
  so.n_ctx = std::max(n_prompt, n_gen) + 1;
  so.backend = backend;
  const bool gpu = backend != "cpu";
  Session session(*lm, so);

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> tok(1, std::max(1, st.n_vocab - 1));
  std::vector<TokenId> prompt(static_cast<size_t>(std::max(n_prompt, 1)));
  for (auto& v : prompt) v = static_cast<TokenId>(tok(rng));

  // Generation as greta_infer runs it: the next token is sampled on the backend (default
  // sampling parameters) and only its id comes back; the fed tokens stay the prompt's, so every
  // repetition does the same work.
  Sampler sampler(SamplerParams{}, 1);
  // Warm-up: touch every weight once (page cache, TLB) through both paths.
  session.prefill_sample(std::span<const TokenId>(prompt.data(), std::min<size_t>(prompt.size(), 8)), false, false,
                         &sampler);
  session.decode_sample(prompt[0], false, &sampler);
  session.reset();

  // Rates over wall time, and over CPU time per thread (process CPU time / threads): on a shared
  // machine the second is what the cores do while they run (it counts spin-waiting as work).
  std::vector<double> pp, tg, pp_cpu, tg_cpu;
  for (int r = 0; r < reps; ++r) {
    if (n_prompt > 0) {
      session.reset();
      const auto t0 = Clock::now();
      const double c0 = process_cpu_seconds();
      session.prefill_sample(prompt, false, false, &sampler);
      pp.push_back(n_prompt / seconds_since(t0));
      pp_cpu.push_back(n_prompt / ((process_cpu_seconds() - c0) / threads));
    }
    if (n_gen > 0) {
      session.reset();
      TokenId id = prompt[0];
      const auto t0 = Clock::now();
      const double c0 = process_cpu_seconds();
      for (int i = 0; i < n_gen; ++i) {
        session.decode_sample(id, false, &sampler);
        id = prompt[static_cast<size_t>(i + 1) % prompt.size()];
      }
      tg.push_back(n_gen / seconds_since(t0));
      tg_cpu.push_back(n_gen / ((process_cpu_seconds() - c0) / threads));
    }
  }
  // Peak RSS of the model run itself, before the bandwidth buffer is allocated.
  const double rss = peak_rss_mib();
  GpuInfo gi;
#ifdef GRETA_HAVE_CUDA
  if (gpu) gi = gpu_info();  // the session's backend, before another context is made
#endif
  const double par_tps = parallel > 1 && n_gen > 0 ? parallel_decode_rate(*lm, so, parallel, n_gen, reps, prompt) : 0.0;
  Limits lim;
  if (gpu) {
#ifdef GRETA_HAVE_CUDA
    lim.bandwidth_gb_s = cuda::measure_read_bandwidth_gb_s();
    if (lim.bandwidth_gb_s <= 0) fail("could not measure the device read bandwidth");
#endif
  } else {
    ThreadPool pool(threads);
    lim = measure_limits(pool);
  }
  const double limit_tps = lim.bandwidth_gb_s * 1e9 / static_cast<double>(st.weight_bytes_per_token);
  const Stats spp = pp.empty() ? Stats{} : stats_of(pp);
  const Stats stg = tg.empty() ? Stats{} : stats_of(tg);
  const double pp_cpu_med = pp_cpu.empty() ? 0.0 : stats_of(pp_cpu).median;
  const double tg_cpu_med = tg_cpu.empty() ? 0.0 : stats_of(tg_cpu).median;
  // Matmul FLOPs per token: 2 x the parameters other than the embedding table (attention excluded).
  const double flop_per_token = 2.0 * static_cast<double>(st.n_params - int64_t{st.n_vocab} * st.n_embd);
  const double pp_gflops = spp.median * flop_per_token / 1e9;

  if (json) {
    nlohmann::json j = {{"model", path},
                        {"arch", st.arch},
                        {"weights_type", st.weights_type},
                        {"n_params", st.n_params},
                        {"threads", threads},
                        {"kv_dtype", dtype},
                        {"kv_aligned", kv_aligned},
                        {"reps", reps},
                        {"pp", {{"n_tokens", n_prompt}, {"tokens_per_s", spp.median}, {"min", spp.min}, {"max", spp.max}}},
                        {"tg", {{"n_tokens", n_gen}, {"tokens_per_s", stg.median}, {"min", stg.min}, {"max", stg.max}}},
                        {"bandwidth_gb_s", lim.bandwidth_gb_s},
                        {"bandwidth_gb_s_per_cpu_time", lim.bandwidth_per_cpu_gb_s},
                        {"bandwidth_threads", lim.bandwidth_threads},
                        {"bandwidth_source", gpu ? "device read kernel (best of 5 passes over 2 GiB)"
                                                 : "all hardware threads streaming 512 MiB (best of 5 passes)"},
                        {"weight_bytes_per_token", st.weight_bytes_per_token},
                        {"decode_limit_tokens_per_s", limit_tps},
                        {"decode_fraction_of_limit", stg.median / limit_tps},
                        {"decode_fraction_of_limit_per_cpu_time",
                         stats_of(tg_cpu.empty() ? std::vector<double>{0.0} : tg_cpu).median /
                             (lim.bandwidth_per_cpu_gb_s * 1e9 / static_cast<double>(st.weight_bytes_per_token))},
                        {"prefill_gflops", pp_gflops},
                        {"fma_peak_gflops", lim.fma_peak_gflops},
                        {"prefill_fraction_of_fma_peak", pp_gflops / lim.fma_peak_gflops},
                        {"pp_tokens_per_cpu_s", pp_cpu_med},
                        {"tg_tokens_per_cpu_s", tg_cpu_med},
                        {"peak_rss_mib", rss},
                        {"load_s", load_s},
                        {"parallel_decode",
                         {{"parallel", parallel},
                          {"tokens_per_s", par_tps},
                          {"speedup_vs_one_sequence", stg.median > 0 ? par_tps / stg.median : 0.0}}},
                        {"simd_target", gpu ? "none" : cpu::bandwidth_simd_target()},
                        {"sampling", "on the backend, ids only (default parameters)"},
                        {"backend", backend}};
    if (gpu) {
      // Not measured on the GPU (the CPU's FMA peak and CPU-time rates mean nothing there).
      for (const char* k : {"fma_peak_gflops", "prefill_fraction_of_fma_peak", "bandwidth_gb_s_per_cpu_time", "bandwidth_threads",
                            "decode_fraction_of_limit_per_cpu_time", "pp_tokens_per_cpu_s", "tg_tokens_per_cpu_s"}) {
        j[k] = nullptr;
      }
      j["device"] = gi.device;
      j["gpu_memory_bytes"] = {{"weights", gi.weights}, {"kv_cache", gi.kv_cache}, {"scratch", gi.scratch},
                               {"total", gi.weights + gi.kv_cache + gi.scratch}};
      j["file_tensor_bytes"] = file_tensor_bytes(*lm);
      j["gpu_weights_fraction_of_file"] = static_cast<double>(gi.weights) / static_cast<double>(file_tensor_bytes(*lm));
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (gpu) {
    const double mib = 1024.0 * 1024.0;
    std::printf("model    %s (%s, %s, %s params, %.3f GB weights/token)\n", path.c_str(), st.arch.c_str(),
                st.weights_type.c_str(), format_params(st.n_params).c_str(), st.weight_bytes_per_token / 1e9);
    std::printf("device   %s   kv %s   kv-aligned %d   reps %d\n", gi.device.c_str(), dtype.c_str(), kv_aligned, reps);
    if (n_prompt > 0) std::printf("pp%-5d  %8.2f t/s  (min %.2f, max %.2f)\n", n_prompt, spp.median, spp.min, spp.max);
    if (n_gen > 0)
      std::printf("tg%-5d  %8.2f t/s  (min %.2f, max %.2f)   limit %.1f t/s at %.1f GB/s -> %.1f%% of the limit\n",
                  n_gen, stg.median, stg.min, stg.max, limit_tps, lim.bandwidth_gb_s, 100 * stg.median / limit_tps);
    if (parallel > 1 && n_gen > 0)
      std::printf("tg%-5d x%d sequences  %8.2f t/s aggregate = %.2fx one sequence\n", n_gen, parallel, par_tps,
                  par_tps / stg.median);
    std::printf("gpu mem  weights %.1f MiB (%.3fx the file's %.1f MiB), kv cache %.1f MiB, scratch %.1f MiB\n",
                gi.weights / mib, static_cast<double>(gi.weights) / static_cast<double>(file_tensor_bytes(*lm)),
                file_tensor_bytes(*lm) / mib, gi.kv_cache / mib, gi.scratch / mib);
    return 0;
  }
  std::printf("model    %s (%s, %s, %s params, %.3f GB weights/token)\n", path.c_str(), st.arch.c_str(),
              st.weights_type.c_str(), format_params(st.n_params).c_str(), st.weight_bytes_per_token / 1e9);
  std::printf("threads  %d   kv %s   kv-aligned %d   simd %s   reps %d\n", threads, dtype.c_str(), kv_aligned,
              cpu::bandwidth_simd_target(), reps);
  if (n_prompt > 0)
    std::printf("pp%-5d  %8.2f t/s  (min %.2f, max %.2f)   %.1f GFLOP/s = %.0f%% of FMA peak %.1f GFLOP/s\n", n_prompt,
                spp.median, spp.min, spp.max, pp_gflops, 100 * pp_gflops / lim.fma_peak_gflops, lim.fma_peak_gflops);
  if (n_gen > 0)
    std::printf("tg%-5d  %8.2f t/s  (min %.2f, max %.2f)   limit %.1f t/s at %.1f GB/s -> %.0f%% of the limit\n", n_gen,
                stg.median, stg.min, stg.max, limit_tps, lim.bandwidth_gb_s, 100 * stg.median / limit_tps);
  // Per CPU-second: the decode rate against the limit set by the bandwidth per CPU-second (both
  // measured in this run, both immune to time slices lost to other processes).
  const double limit_cpu_tps = lim.bandwidth_per_cpu_gb_s * 1e9 / static_cast<double>(st.weight_bytes_per_token);
  std::printf("cpu time pp %.2f t/s, tg %.2f t/s per CPU-second of each thread (%.0f%% of the FMA peak; "
              "%.0f%% of the decode limit %.1f t/s at %.1f GB/s per CPU-second)\n",
              pp_cpu_med, tg_cpu_med, 100 * pp_cpu_med * flop_per_token / 1e9 / lim.fma_peak_gflops,
              100 * tg_cpu_med / limit_cpu_tps, limit_cpu_tps, lim.bandwidth_per_cpu_gb_s);
  if (parallel > 1 && n_gen > 0) {
    std::printf("tg%-5d x%d sequences  %8.2f t/s aggregate = %.2fx one sequence (one forward pass per step for all)\n",
                n_gen, parallel, par_tps, par_tps / stg.median);
  }
  std::printf("memory   peak RSS %.1f MiB   load %.3f s\n", rss, load_s);
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"Measure prompt-processing and generation speed against the machine's limits.", "greta_bench"};
  std::string model, kernel, dtype = "bf16";
  std::string backend = "cpu";
  std::string n_prompt = "512", n_gen = "128";
  std::string threads = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  int reps = 3, kv_aligned = 0, parallel = 1;
  int64_t rows = 2048, cols = 2048, batch = 1;
  bool json = false, hot = false;
  app.add_option("-m,--model", model, "GGUF model file");
  app.add_option("-p,--n-prompt", n_prompt, "prompt tokens for the prefill test (0: skip); a list 128,512 sweeps")
      ->type_name("N[,N...]")
      ->capture_default_str();
  app.add_option("-n,--n-gen", n_gen, "tokens for the generation test (0: skip); a list 0,128 sweeps")
      ->type_name("N[,N...]")
      ->capture_default_str();
  app.add_option("-t,--threads", threads, "threads; a list 1,2 sweeps (default: the hardware threads)")
      ->type_name("N[,N...]");
  app.add_option("-r,--repetitions", reps, "repetitions (the median is reported)")->check(CLI::Range(1, 1000));
  app.add_option("--dtype", dtype, "KV cache type: f32, f16, bf16");
  app.add_option("--kv-aligned", kv_aligned, "1: prefill/decode bit-equivalent mode")->check(CLI::Range(0, 1));
  app.add_option("--parallel", parallel, "also time this many sequences decoding together (aggregate t/s)")
      ->check(CLI::Range(1, 256));
  app.add_option("--backend", backend, "cpu, or cuda (CUDA builds)");
  app.add_flag("--json", json, "print one JSON object");
  app.add_option("--kernel", kernel, "kernel mode: time one matmul with weights of this type");
  app.add_option("--rows", rows, "kernel mode: N (output features)")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--cols", cols, "kernel mode: K (input features)")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_flag("--hot", hot, "kernel mode: reuse one copy of the weights (cache-resident compute speed)");
  app.add_option("--batch", batch, "kernel mode: M (activation rows)")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app.set_version_flag("--version", greta::version_text("greta_bench"), "print the version and exit");
  // llama-bench's flags (-ngl, -fa, ...) translated, or rejected naming the flag.
  const greta::Habits habits = llama_habits(std::vector<std::string>(argv, argv + argc), greta::HabitTool::Bench,
                                                   greta::option_takes_value(app));
  if (std::optional<std::string> text = greta::cli_parse(app, habits.args, "greta_bench")) {
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  greta::print_notes("greta_bench", habits.notes);
  const std::vector<int> prompts = parse_list(n_prompt, "--n-prompt", 0, 1 << 20);
  const std::vector<int> gens = parse_list(n_gen, "--n-gen", 0, 1 << 20);
  const std::vector<int> thread_counts = parse_list(threads, "--threads", 1, 1024);
  if (!kernel.empty()) {
    for (const int t : thread_counts) run_kernel(kernel, rows, cols, batch, t, reps, hot, json);
    return 0;
  }
  if (model.empty()) greta::fail("-m MODEL (or --kernel TYPE) is required", greta::kExitUsage);
#ifdef GRETA_HAVE_CUDA
  if (backend == "cuda") register_recording_cuda_backend();
#endif
  if (greta::find_backend(backend) == nullptr) {
    greta::fail("--backend " + backend + ": not built into this greta_bench", greta::kExitUsage);
  }
  for (const int t : thread_counts) {
    if (prompts.size() == 1 && gens.size() == 1) {  // one run measures both
      run_model(model, prompts[0], gens[0], t, reps, dtype, kv_aligned, parallel, backend, json);
      continue;
    }
    // A sweep, as llama-bench: one prefill test per -p value, one generation test per -n value.
    for (const int p : prompts) {
      if (p > 0) run_model(model, p, 0, t, reps, dtype, kv_aligned, parallel, backend, json);
    }
    for (const int n : gens) {
      if (n > 0) run_model(model, 0, n, t, reps, dtype, kv_aligned, parallel, backend, json);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return greta::guarded_main("greta_bench", [&] { return run(argc, argv); });
}
