// Batch invariance on the CUDA backend (docs/ARCHITECTURE.md, "Batch invariance"), with the CPU
// test's harness (tests/runtime/batch_harness.h): with kv_aligned, a sequence's logits at every
// position are bit-identical whether it runs alone in one prefill or shares its batches with 1,
// 3 or 15 other sequences of random lengths, in random row orders, with its prompt cut into
// random prefill chunks and single-token steps -- for every weight type and KV dtype. The mixed
// runs repeat batch shapes, so they also replay recorded steps (CUDA graphs).

#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "runtime/batch_harness.h"

namespace greta {
namespace {

constexpr KvDtype kDtypes[] = {KvDtype::F32, KvDtype::F16, KvDtype::BF16};
constexpr int kOthers[] = {1, 3, 15};

ContextOptions gpu_options(KvDtype dt, bool kv_aligned, int32_t n_ctx) {
  ContextOptions opt;
  opt.backend = "cuda";
  opt.n_ctx = n_ctx;
  opt.kv_dtype = dt;
  opt.kv_aligned = kv_aligned;
  return opt;
}

void check_model(const LoadedModel& lm, const std::string& label, int target_len) {
  const auto target = test::make_prompt(target_len, lm.stats.n_vocab, 777);
  const int64_t nv = lm.stats.n_vocab;
  int compared = 0;
  for (KvDtype dt : kDtypes) {
    const ContextOptions opt = gpu_options(dt, true, 512);
    const std::vector<float> alone = test::run_alone(lm, opt, target);
    for (int others : kOthers) {
      const auto mixed = test::run_mixed(lm, opt, target, others, static_cast<uint32_t>(1000 + others));
      for (int p = 0; p < target_len; ++p) {
        ASSERT_TRUE(test::bits_equal(alone.data() + p * nv, mixed.data() + p * nv, nv))
            << label << " kv " << kv_type_name(dt) << " others " << others << ": position " << p << " differs";
      }
      compared += target_len;
    }
  }
  std::printf("[batch] %s: %d positions bit-identical alone vs with 1/3/15 other sequences (kv f32/f16/bf16)\n",
              label.c_str(), compared);
}

TEST(CudaBatchInvariance, Stories260K) {
  GRETA_REQUIRE_GPU();
  check_model(cuda_test::cached_model(cuda_test::shipped_model("stories260K.gguf")), "stories260K", 300);
}

TEST(CudaBatchInvariance, TinyStoriesQ8_0) {
  GRETA_REQUIRE_GPU();
  check_model(cuda_test::cached_model(cuda_test::shipped_model("TinyStories-656K-Q8_0.gguf")), "TinyStories-656K-Q8_0",
              48);
}

TEST(CudaBatchInvariance, SyntheticModelOfEveryWeightType) {
  GRETA_REQUIRE_GPU();
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                       TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
                       TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    check_model(test::synth_model(t), std::string("synth ") + tensor_type_name(t), 48);
  }
}

// kv_aligned = 0 (attention reads each run's own fresh f32 K/V): a sequence prefilled in one
// batch gives the same bits whatever other sequences share that batch; cut into random chunks
// it does not with a bf16 cache (a chunk and a decode step see different K/V), which shows the
// harness is sensitive on the GPU too.
TEST(CudaBatchInvariance, UnalignedRunsReadTheirOwnFreshKv) {
  GRETA_REQUIRE_GPU();
  const LoadedModel& lm = cuda_test::cached_model(cuda_test::shipped_model("stories260K.gguf"));
  const auto target = test::make_prompt(48, lm.stats.n_vocab, 777);
  const ContextOptions opt = gpu_options(KvDtype::BF16, false, 128);
  const auto alone = test::run_alone(lm, opt, target);
  const auto between = test::run_between(lm, opt, target);
  const auto mixed = test::run_mixed(lm, opt, target, 3, 99);
  const auto n = static_cast<int64_t>(alone.size());
  EXPECT_TRUE(test::bits_equal(between.data(), alone.data(), n)) << "a prefill depends on the batch it shares";
  EXPECT_FALSE(test::bits_equal(mixed.data(), alone.data(), n)) << "the harness does not see chunking";
}

}  // namespace
}  // namespace greta
