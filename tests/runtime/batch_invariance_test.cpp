// Batch invariance (docs/ARCHITECTURE.md, "Batch invariance"): with kv_aligned, a sequence's
// logits at every position are bit-identical whether it runs alone in one prefill or shares its
// batches with 1, 3 or 15 other sequences of random lengths, in random row orders, with its own
// prompt cut into random prefill chunks and single-token steps -- for every weight type, KV
// dtype and thread count.

#include <gtest/gtest.h>

#include <random>

#include "greta/runtime/context.h"
#include "runtime/batch_harness.h"
#include "model_test_util.h"

namespace greta {
namespace {

using test::cached_model;
using test::make_prompt;
using test::run_alone;
using test::run_mixed;

constexpr KvDtype kDtypes[] = {KvDtype::F32, KvDtype::F16, KvDtype::BF16};
constexpr int kThreads[] = {1, 2, 3};
constexpr int kOthers[] = {1, 3, 15};

void check_model(const LoadedModel& lm, const std::string& label, int target_len) {
  const auto target = make_prompt(target_len, lm.stats.n_vocab, 777);
  const int64_t nv = lm.stats.n_vocab;
  for (KvDtype dt : kDtypes) {
    ContextOptions opt;
    opt.n_ctx = 512;
    opt.kv_dtype = dt;
    opt.kv_aligned = true;
    opt.n_threads = 1;
    const std::vector<float> alone = run_alone(lm, opt, target);
    for (int t : kThreads) {
      opt.n_threads = t;
      for (int others : kOthers) {
        const auto mixed = run_mixed(lm, opt, target, others, static_cast<uint32_t>(1000 * t + others));
        for (int p = 0; p < target_len; ++p) {
          ASSERT_TRUE(test::bits_equal(alone.data() + p * nv, mixed.data() + p * nv, nv))
              << label << " kv " << kv_type_name(dt) << " threads " << t << " others " << others << ": position "
              << p << " differs";
        }
      }
    }
  }
}

TEST(BatchInvariance, Stories260K) { check_model(cached_model(test::shipped_model("stories260K.gguf")), "stories260K", 300); }

TEST(BatchInvariance, TinyStoriesQ8_0) {
  check_model(cached_model(test::shipped_model("TinyStories-656K-Q8_0.gguf")), "TinyStories-656K-Q8_0", 48);
}

class BatchInvarianceSynth : public ::testing::TestWithParam<TensorType> {};

TEST_P(BatchInvarianceSynth, TargetBitIdenticalWhateverSharesItsBatches) {
  check_model(test::synth_model(GetParam()), std::string("synth ") + tensor_type_name(GetParam()), 48);
}

// Every architecture's reference model (tests/data/archs/).
class BatchInvarianceArch : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchInvarianceArch, TargetBitIdenticalWhateverSharesItsBatches) {
  check_model(cached_model(test::arch_data(std::string(GetParam()) + ".gguf")), GetParam(), 48);
}

INSTANTIATE_TEST_SUITE_P(Archs, BatchInvarianceArch, ::testing::ValuesIn(test::kArchModels),
                         [](const auto& info) { return test::arch_test_name(info.param); });

INSTANTIATE_TEST_SUITE_P(WeightTypes, BatchInvarianceSynth,
                         ::testing::Values(TensorType::F16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                                           TensorType::Q6_K),
                         [](const auto& info) { return std::string(tensor_type_name(info.param)); });

// kv_aligned = 0 keeps the part of the contract that does not involve its own chunking: a
// sequence fed the same way (one prefill) gives the same bits whatever other sequences share the
// batch (each run of rows attends to its own fresh K/V only).
TEST(BatchInvariance, UnalignedIndependentOfOtherSequences) {
  const LoadedModel& lm = cached_model(test::shipped_model("stories260K.gguf"));
  const auto target = make_prompt(40, lm.stats.n_vocab, 5);
  ContextOptions opt;
  opt.n_ctx = 128;
  opt.kv_dtype = KvDtype::BF16;
  opt.kv_aligned = false;
  opt.n_threads = 2;
  const auto alone = run_alone(lm, opt, target);
  const auto between = test::run_between(lm, opt, target);
  EXPECT_TRUE(test::bits_equal(between.data(), alone.data(), static_cast<int64_t>(alone.size())));
}

// The harness is sensitive: without kv_aligned a bf16 cache makes a prefill chunk and a decode
// step see different K/V, and the random chunking of run_mixed shows it.
TEST(BatchInvariance, HarnessDetectsChunkingWithoutKvAligned) {
  const LoadedModel& lm = cached_model(test::shipped_model("stories260K.gguf"));
  const auto target = make_prompt(48, lm.stats.n_vocab, 777);
  ContextOptions opt;
  opt.n_ctx = 128;
  opt.kv_dtype = KvDtype::BF16;
  opt.kv_aligned = false;
  const auto alone = run_alone(lm, opt, target);
  const auto mixed = run_mixed(lm, opt, target, 3, 99);
  EXPECT_FALSE(test::bits_equal(alone.data(), mixed.data(), static_cast<int64_t>(alone.size())));
}

}  // namespace
}  // namespace greta
