// The table printed by scripts/gpu_check.sh (GRETA_CUDA_REPORT=1): per model and KV dtype,
// prefill == decode bit-equality, max |d| against the CPU, and GPU throughput. Models: the
// shipped ones plus GRETA_CUDA_SYNTH (a synthetic large model), when set.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "cuda_test_util.h"

namespace greta {
namespace {

using namespace cuda_test;
using Clock = std::chrono::steady_clock;

// The device's peak memory bandwidth (datasheet), by name; 0 when unknown.
double peak_bytes_per_s(const std::string& device) {
  if (device.find("H200") != std::string::npos) return 4.8e12;  // HBM3e
  if (device.find("H100") != std::string::npos) return 3.35e12;  // SXM HBM3
  return 0;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Row {
  bool equal = false;
  double max_diff = -1;  // vs CPU; -1: not measured
  double pp = 0, tg = 0;
};

Row measure(const LoadedModel& lm, KvDtype dtype, int32_t n_pp, int32_t n_tg, int32_t n_cmp) {
  Row row;
  const int32_t n_ctx = std::max(n_pp, 65) + n_tg + 8;
  const SessionOptions opt{.n_ctx = n_ctx, .kv_dtype = dtype, .kv_aligned = true, .n_threads = 16};
  Session a(lm, on_gpu(opt)), b(lm, on_gpu(opt));
  const int32_t V = a.n_vocab();
  // Equality: 65-token prompt, all rows of a prefill vs prefill(64) + decode and vs decodes only.
  {
    const std::vector<TokenId> ids = prompt_ids(65, V, 99u);
    const float* p = a.prefill(ids, true);
    std::vector<float> all(p, p + 65LL * V);
    b.prefill(std::span<const TokenId>(ids.data(), 64), false);
    row.equal = bits_equal(b.decode(ids[64]), all.data() + 64LL * V, V);
    b.reset();
    for (int32_t i = 0; i < 65; ++i) row.equal = bits_equal(b.decode(ids[i]), all.data() + int64_t{i} * V, V) && row.equal;
    if (n_cmp > 0) {
      Session c(lm, opt);
      const float* lc = c.prefill(std::span<const TokenId>(ids.data(), n_cmp), true);
      row.max_diff = max_abs_diff(lc, all.data(), int64_t{n_cmp} * V);
    }
  }
  // Throughput: median of 3 prefills of n_pp tokens; then n_tg decode steps.
  const std::vector<TokenId> ids = prompt_ids(n_pp, V, 5u);
  std::vector<double> t;
  a.reset();
  a.prefill(ids, false);  // warm-up
  for (int rep = 0; rep < 3; ++rep) {
    a.reset();
    const auto t0 = Clock::now();
    a.prefill(ids, false);
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  row.pp = n_pp / t[1];
  a.reset();
  a.prefill(std::span<const TokenId>(ids.data(), 1), false);
  a.decode(ids[1]);  // warm-up
  const auto t0 = Clock::now();
  for (int32_t i = 0; i < n_tg; ++i) a.decode(ids[(i + 2) % n_pp]);
  row.tg = n_tg / seconds_since(t0);
  return row;
}

struct ReportModel {
  std::string path;
  int32_t n_pp, n_tg, n_cmp;
};

// The shipped models, then GRETA_CUDA_SYNTH: colon-separated synthetic models; those over
// 100 MB get the pp512/tg128 settings and a short CPU comparison.
std::vector<ReportModel> report_models() {
  std::vector<ReportModel> models = {{shipped_model("stories260K.gguf"), 256, 256, 65},
                                     {shipped_model("TinyStories-656K-Q8_0.gguf"), 256, 256, 65}};
  if (const char* synth = std::getenv("GRETA_CUDA_SYNTH")) {
    std::string list = synth;
    for (size_t start = 0; start < list.size();) {
      size_t end = list.find(':', start);
      if (end == std::string::npos) end = list.size();
      const std::string path = list.substr(start, end - start);
      if (!path.empty()) {
        const bool big = cached_model(path).stats.weight_bytes_per_token > (int64_t{100} << 20);
        models.push_back(big ? ReportModel{path, 512, 128, 8} : ReportModel{path, 256, 128, 65});
      }
      start = end + 1;
    }
  }
  return models;
}

TEST(CudaReport, Table) {
  GRETA_REQUIRE_GPU();
  if (std::getenv("GRETA_CUDA_REPORT") == nullptr) GTEST_SKIP() << "set GRETA_CUDA_REPORT=1";
  const std::vector<ReportModel> models = report_models();
  const std::string device = cuda::device_description();
  const double peak = peak_bytes_per_s(device);
  std::printf("\ndevice: %s\n", device.c_str());
  std::printf("| model | weights | kv | prefill==decode | max|d| vs CPU | pp tok/s | tg tok/s | tg weight GB/s | %% of %.2f TB/s |\n",
              peak / 1e12);
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  // GRETA_CUDA_REPORT_ONLY: a substring of the model file names to keep (profiling runs), and
  // then the f32 cache only.
  const char* only = std::getenv("GRETA_CUDA_REPORT_ONLY");
  for (const ReportModel& m : models) {
    if (only != nullptr && m.path.find(only) == std::string::npos) continue;
    const LoadedModel& lm = cached_model(m.path);
    const std::string base = m.path.substr(m.path.find_last_of('/') + 1);
    for (KvDtype dt : {KvDtype::F32, KvDtype::F16, KvDtype::BF16}) {
      if (only != nullptr && dt != KvDtype::F32) continue;
      const Row r = measure(lm, dt, m.n_pp, m.n_tg, m.n_cmp);
      const double gbs = r.tg * static_cast<double>(lm.stats.weight_bytes_per_token) / 1e9;
      std::printf("| %s | %s | %s | %s | %.3g | %.0f (pp%d) | %.0f (tg%d) | %.0f | %.1f%% |\n", base.c_str(),
                  lm.stats.weights_type.c_str(), kv_type_name(dt), r.equal ? "yes" : "NO", r.max_diff, r.pp, m.n_pp,
                  r.tg, m.n_tg, gbs, peak > 0 ? 100.0 * gbs * 1e9 / peak : 0.0);
      std::fflush(stdout);
      EXPECT_TRUE(r.equal) << base << " " << kv_type_name(dt);
    }
  }
}

// Batched decode through the Context: n_seq sequences with 32-token prompts (one prefill batch),
// then 64 steps of one token per sequence in one batch each (all logits). Aggregate tok/s of
// the last 62 steps (replayed CUDA graphs), logits download included; the f32 cache. GRETA_CUDA_REPORT_ONLY as above.
TEST(CudaReport, BatchedDecode) {
  GRETA_REQUIRE_GPU();
  if (std::getenv("GRETA_CUDA_REPORT") == nullptr) GTEST_SKIP() << "set GRETA_CUDA_REPORT=1";
  const char* only = std::getenv("GRETA_CUDA_REPORT_ONLY");
  constexpr int32_t kPrompt = 32, kSteps = 64;
  const int32_t seq_counts[] = {1, 8, 32, 64};
  std::printf("\n| model | weights | tok/s with 1 / 8 / 32 / 64 sequences (tg%d each, kv f32) |\n|---|---|---|\n", kSteps);
  for (const ReportModel& m : report_models()) {
    if (only != nullptr && m.path.find(only) == std::string::npos) continue;
    const LoadedModel& lm = cached_model(m.path);
    std::string cells;
    for (int32_t n_seq : seq_counts) {
      ContextOptions opt;
      opt.backend = "cuda";
      opt.n_ctx = kPrompt + kSteps + 8;
      opt.n_seq_max = n_seq;
      opt.kv_dtype = KvDtype::F32;
      opt.kv_aligned = true;
      Context ctx(lm, opt);
      std::vector<SeqId> ids;
      std::vector<BatchRow> rows;
      for (int32_t s = 0; s < n_seq; ++s) {
        ids.push_back(ctx.seq_add());
        const auto p = prompt_ids(kPrompt, ctx.n_vocab(), 50u + static_cast<uint32_t>(s));
        for (int32_t i = 0; i < kPrompt; ++i) rows.push_back({ids.back(), i, p[i], i + 1 == kPrompt});
      }
      ctx.decode(rows);
      double t = 0;
      for (int32_t step = 0; step < kSteps; ++step) {
        rows.clear();
        for (int32_t s = 0; s < n_seq; ++s) rows.push_back({ids[s], kPrompt + step, (7 * step + s) % ctx.n_vocab(), true});
        const auto t0 = Clock::now();
        ctx.decode(rows);
        if (step > 1) t += seconds_since(t0);  // a step shape runs directly once, then is recorded
      }
      char cell[32];
      std::snprintf(cell, sizeof cell, "%s%.0f", cells.empty() ? "" : " / ", n_seq * (kSteps - 2) / t);
      cells += cell;
    }
    std::printf("| %s | %s | %s |\n", m.path.substr(m.path.find_last_of('/') + 1).c_str(),
                lm.stats.weights_type.c_str(), cells.c_str());
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace greta
