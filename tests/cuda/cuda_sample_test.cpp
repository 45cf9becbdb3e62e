// Sampling on the GPU (issue 10 item 4): the device picks exactly the token the host reference
// (backend/sampling.h, the Sampler's arithmetic) picks from the same logits, parameters and draw
// -- greedy and seeded, ties, NaN, infinities, candidate sets on both sides of the device's limit
// -- and generation through the ids-only path equals generation from logits read back.

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "cuda_test_util.h"
#include "greta/backend/sampling.h"
#include "greta/cuda/sample.h"
#include "greta/runtime/context.h"
#include "greta/runtime/generator.h"
#include "greta/runtime/sampler.h"
#include "runtime/sampling_cases.h"

namespace greta {
namespace {

using namespace cuda_test;
using backend::SampleParams;

std::string describe(const sampling_test::SampleCase& c) {
  return "temp " + std::to_string(c.params.temp) + " top_k " + std::to_string(c.params.top_k) + " top_p " +
         std::to_string(c.params.top_p) + " min_p " + std::to_string(c.params.min_p) + " u " + std::to_string(c.u);
}

// Many rows at once, in a shuffled order, some rows sampled twice with different settings.
void check_vocab(cuda::CudaBackend& gpu, int32_t n_vocab, int count, uint64_t seed) {
  const auto cases = sampling_test::make_cases(n_vocab, count, seed);
  const auto rows = static_cast<int64_t>(cases.size());
  backend::Tensor t = gpu.alloc(rows, n_vocab);
  std::vector<float> host(static_cast<size_t>(rows * n_vocab));
  for (int64_t r = 0; r < rows; ++r) std::copy(cases[r].logits.begin(), cases[r].logits.end(), host.begin() + r * n_vocab);
  gpu.write(t, host.data());
  std::vector<backend::SampleRow> samples;
  std::vector<const sampling_test::SampleCase*> used;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = (i * 7919) % rows;
    samples.push_back({static_cast<int32_t>(r), cases[r].params, cases[r].u});
    used.push_back(&cases[r]);
    if (i % 5 == 0) {  // the same row again, greedy and with the defaults
      samples.push_back({static_cast<int32_t>(r), SampleParams{.temp = 0.0f}, 0.0});
      used.push_back(&cases[r]);
      samples.push_back({static_cast<int32_t>(r), SampleParams{}, cases[r].u});
      used.push_back(&cases[r]);
    }
  }
  std::vector<int32_t> ids(samples.size(), -7);
  gpu.sample(t, samples, ids.data());
  backend::SampleScratch scratch;
  int on_device = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const backend::SampleRow& s = samples[i];
    const int32_t want = backend::sample_row(host.data() + int64_t{s.row} * n_vocab, n_vocab, s.params, s.u, scratch);
    sampling_test::SampleCase c = *used[i];
    c.params = s.params;
    ASSERT_EQ(ids[i], want) << "n_vocab " << n_vocab << " row " << s.row << " kind " << s.row % 9 << ": "
                            << describe(c);
    const cuda::DevSampleRow d{0, s.params.top_k, s.params.temp, s.params.top_p, s.params.min_p, 0.0f, 0.0};
    on_device += cuda::device_samples(d, n_vocab) ? 1 : 0;
  }
  // Most settings run on the device (the rest exercise the host fallback).
  EXPECT_GT(on_device, static_cast<int>(samples.size()) / 2);
}

TEST(CudaSample, DeviceEqualsHostReferenceBitwise) {
  GRETA_REQUIRE_GPU();
  cuda::CudaBackend gpu(backend::BackendOptions{});
  check_vocab(gpu, 1, 40, 1);
  check_vocab(gpu, 2, 100, 2);
  check_vocab(gpu, 37, 300, 3);
  check_vocab(gpu, 512, 600, 4);      // stories260K's vocabulary
  check_vocab(gpu, 1024, 300, 5);     // the device's candidate limit
  check_vocab(gpu, 1025, 300, 6);
  check_vocab(gpu, 32000, 300, 7);    // llama-2
  check_vocab(gpu, 128256, 60, 8);    // llama-3
  check_vocab(gpu, 151936, 40, 9);    // qwen2
}

TEST(CudaSample, ManyDrawsOfOneRowFollowTheHostSampler) {
  GRETA_REQUIRE_GPU();
  cuda::CudaBackend gpu(backend::BackendOptions{});
  const int32_t V = 32000;
  std::mt19937_64 rng(11);
  const std::vector<float> row = sampling_test::make_logits(V, 0, rng);
  backend::Tensor t = gpu.alloc(1, V);
  gpu.write(t, row.data());
  for (const SampleParams& p : {SampleParams{}, SampleParams{.temp = 1.3f, .top_k = 1000, .top_p = 0.99f, .min_p = 0.0f},
                                SampleParams{.temp = 0.5f, .top_k = 3, .top_p = 1.0f, .min_p = 0.0f}}) {
    Sampler dev(p, 5), host(p, 5);
    std::vector<backend::SampleRow> samples;
    for (int i = 0; i < 256; ++i) {
      samples.push_back({0, p, dev.peek_draw()});
      dev.skip_draw();
    }
    std::vector<int32_t> ids(samples.size());
    gpu.sample(t, samples, ids.data());
    for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], host.sample(row.data(), V)) << "draw " << i;
  }
}

// Greedy (and seeded) generation through the ids-only path gives the tokens that sampling the
// logits read back gives.
TEST(CudaSample, GenerationThroughDeviceSamplingEqualsLogitsPath) {
  GRETA_REQUIRE_GPU();
  for (const char* name : {"stories260K.gguf", "TinyStories-656K-Q8_0.gguf"}) {
    SCOPED_TRACE(name);
    const LoadedModel& lm = cached_model(shipped_model(name));
    const SessionOptions opt{.n_ctx = 200, .kv_dtype = KvDtype::F16, .kv_aligned = true, .backend = "cuda"};
    for (const SampleParams& p : {SampleParams{.temp = 0.0f}, SampleParams{}}) {
      Session a(lm, opt), b(lm, opt);
      Sampler sa(p, 3), sb(p, 3);
      const std::vector<TokenId> prompt = prompt_ids(12, a.n_vocab(), 77);
      TokenId ta = a.prefill_sample(prompt, false, false, &sa).token;
      TokenId tb = sb.sample(b.prefill(prompt, false), b.n_vocab());
      ASSERT_EQ(ta, tb);
      for (int i = 0; i < 150; ++i) {
        ta = a.decode_sample(ta, false, &sa).token;
        tb = sb.sample(b.decode(tb), b.n_vocab());  // greedy when temp is 0
        ASSERT_EQ(ta, tb) << "step " << i;
      }
    }
  }
}

// A prompt of three micro-batches (256 + 256 + 88 rows) with no logits until the last row: the
// batch uploads run without a synchronisation between micro-batches (the third reuses the first
// pinned staging copy after its event); the result equals a prefill that reads every row.
TEST(CudaSample, UnsynchronisedMicroBatchesEqualReadBackPrefill) {
  GRETA_REQUIRE_GPU();
  const LoadedModel& lm = cached_model(shipped_model("stories260K.gguf"));
  const SessionOptions opt{.n_ctx = 700, .kv_dtype = KvDtype::BF16, .kv_aligned = true, .backend = "cuda"};
  Session a(lm, opt), b(lm, opt);
  const int32_t V = a.n_vocab();
  const std::vector<TokenId> prompt = prompt_ids(600, V, 4242);
  Sampler sa({.temp = 0.0f}, 1), sb({.temp = 0.0f}, 1);
  for (int round = 0; round < 3; ++round) {
    a.reset();
    b.reset();
    const Session::Sampled got = a.prefill_sample(prompt, false, true, &sa);
    const float* all = b.prefill(prompt, true);
    ASSERT_NE(got.logits, nullptr);
    EXPECT_TRUE(bits_equal(got.logits, all + 599LL * V, V)) << "round " << round;
    EXPECT_EQ(got.token, sb.sample(all + 599LL * V, V));
    TokenId t = got.token;
    for (int i = 0; i < 20; ++i) {
      const Session::Sampled s = a.decode_sample(t, false, &sa);
      const TokenId want = sb.sample(b.decode(t), V);
      ASSERT_EQ(s.token, want) << "round " << round << " step " << i;
      t = want;
    }
  }
}

// The Generator on the GPU: the same tokens with and without the logits of Token events (ids
// only), and the same as the CPU-sampled reference of the same logits (token_logits on).
TEST(CudaSample, GeneratorTokensDoNotDependOnTokenLogits) {
  GRETA_REQUIRE_GPU();
  const LoadedModel& lm = cached_model(shipped_model("stories260K.gguf"));
  const auto run = [&](bool token_logits, bool check_host) {
    Context ctx(lm, {.backend = "cuda", .n_seq_max = 4, .kv_dtype = KvDtype::BF16, .kv_aligned = true});
    Generator gen(ctx, *lm.tokenizer, 4);
    std::map<std::pair<int64_t, int32_t>, Sampler> host;
    for (int i = 0; i < 6; ++i) {
      GenerationRequest r;
      r.prompt = prompt_ids(3 + 5 * i, ctx.n_vocab(), 10u + static_cast<uint32_t>(i));
      r.max_tokens = 40;
      r.sampling = i % 2 == 0 ? SampleParams{} : SampleParams{.temp = 0.0f};
      r.seed = 500 + static_cast<uint64_t>(i);
      r.n = i == 1 ? 2 : 1;
      r.ignore_eos = true;
      r.token_logits = token_logits;
      const int64_t id = gen.submit(r);
      for (int32_t c = 0; c < r.n; ++c) host.emplace(std::make_pair(id, c), Sampler(r.sampling, r.seed + static_cast<uint64_t>(c)));
    }
    std::map<std::pair<int64_t, int32_t>, std::vector<TokenId>> out;
    while (!gen.idle()) {
      gen.step([&](const GenerationEvent& e) {
        if (e.kind != GenerationEvent::Kind::Token) return;
        out[{e.request, e.choice}].push_back(e.token);
        if (check_host) {
          ASSERT_NE(e.logits, nullptr);
          EXPECT_EQ(e.token, host.at({e.request, e.choice}).sample(e.logits, ctx.n_vocab()));
        } else {
          EXPECT_EQ(e.logits, nullptr);
        }
      });
    }
    return out;
  };
  const auto with = run(true, true), without = run(false, false);
  EXPECT_EQ(with, without);
  EXPECT_EQ(with.size(), 7u);
}

}  // namespace
}  // namespace greta
