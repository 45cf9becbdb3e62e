// greta_infer --activations and --backend: exact-math greedy text on the Q8_0 model, and the
// usage errors for values or backends this binary does not have.

#include <gtest/gtest.h>

#include "cli/cli_runner.h"

namespace greta {
namespace {

using test::CliResult;
using test::CliRun;

const std::string kBinary = std::string(GRETA_BIN_DIR) + "/greta_infer";
const std::string kQ8Model = std::string(GRETA_SOURCE_DIR) + "/models/TinyStories-656K-Q8_0.gguf";

CliResult infer(std::vector<std::string> args) {
  return test::run_cli(kBinary, CliRun{.args = std::move(args), .env = {{"GRETA_SEED", std::nullopt},
                                                                        {"GRETA_KV_ALIGNED", std::nullopt}}});
}

// TinyStories-656K-Q8_0.expected.txt: llama.cpp's greedy text for "Once upon a time", 32 tokens.
TEST(GretaInferActivations, F32ActivationsGiveTheExpectedGreedyText) {
  for (const char* mode : {"prefill", "decode"}) {
    const CliResult r = infer({"-m", kQ8Model, "-p", "Once upon a time", "--temp", "0", "-n", "32", "-t", "2",
                               "--activations", "f32", "--kv-aligned", "1", "--mode", mode});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "Once upon a time"
              ", a little girl named Lily lived in a small house. She loved to eat yummy food. One day, she saw "
              "a small bird on the ground. The bird was sad because it could not eat it.\nLily wanted to help the "
              "bird. She tried to eat the food and ")
        << mode;
  }
}

TEST(GretaInferActivations, MalformedValueIsAUsageError) {
  const CliResult r = infer({"--activations", "f16", "-m", "/nonexistent.gguf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--activations: expected q8 or f32, got 'f16'"), std::string::npos) << r.err;
}

TEST(GretaInferBackend, UnknownBackendIsAUsageError) {
  const CliResult r = infer({"--backend", "tpu", "-m", "/nonexistent.gguf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--backend: expected cpu or cuda, got 'tpu'"), std::string::npos) << r.err;
}

#ifndef GRETA_HAVE_CUDA
TEST(GretaInferBackend, CudaWithoutCudaBuildIsAUsageErrorBeforeLoading) {
  const CliResult r = infer({"--backend", "cuda", "-m", "/nonexistent.gguf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("built without it"), std::string::npos) << r.err;
}
#endif

}  // namespace
}  // namespace greta
