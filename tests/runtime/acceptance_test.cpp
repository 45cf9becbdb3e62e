// Correctness acceptance of the forward pass (issue 4): greedy ids of the shipped models and
// teacher-forced logits against llama.cpp's reference dumps.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model_test_util.h"

namespace greta {
namespace {

using test::argmax;
using test::cached_model;

std::vector<TokenId> parse_ids(const std::string& s) {
  std::vector<TokenId> ids;
  std::istringstream in(s);
  for (TokenId t; in >> t;) ids.push_back(t);
  return ids;
}

std::vector<TokenId> greedy(Session& s, const std::vector<TokenId>& prompt, int n_new) {
  const float* logits = s.prefill(prompt, false);
  std::vector<TokenId> out;
  for (int i = 0; i < n_new; ++i) {
    out.push_back(argmax(logits, s.n_vocab()));
    if (i + 1 < n_new) logits = s.decode(out.back());
  }
  return out;
}

TEST(Acceptance, Stories260KGreedy256FromBos) {
  std::ifstream f(test::model_data("stories260K.greedy256.txt"));
  ASSERT_TRUE(f.good());
  std::string line, ids_line;
  while (std::getline(f, line)) {
    if (line.rfind("# generated token ids", 0) == 0) {
      std::getline(f, ids_line);
      break;
    }
  }
  const std::vector<TokenId> expected = parse_ids(ids_line);
  ASSERT_EQ(expected.size(), 256u);
  const LoadedModel& lm = cached_model(test::shipped_model("stories260K.gguf"));
  EXPECT_EQ(lm.stats.arch, "llama");
  EXPECT_EQ(lm.stats.weights_type, "f32");
  for (bool aligned : {false, true}) {
    Session s(lm, {.n_ctx = 0, .kv_dtype = KvDtype::F32, .kv_aligned = aligned, .n_threads = aligned ? 2 : 1});
    EXPECT_EQ(s.n_ctx(), 2048);
    EXPECT_EQ(greedy(s, {1}, 256), expected) << "kv_aligned " << aligned;
  }
}

struct ExpectedRun {
  std::vector<TokenId> prompt;
  std::vector<TokenId> gen;
  std::string prompt_text;
};

std::vector<ExpectedRun> read_tinystories_expected() {
  std::ifstream f(test::model_data("TinyStories-656K-Q8_0.expected.txt"));
  std::vector<ExpectedRun> runs;
  std::string line;
  auto list = [](const std::string& l) {
    std::string s = l.substr(l.find('[') + 1);
    s = s.substr(0, s.find(']'));
    for (char& c : s) c = c == ',' ? ' ' : c;
    return parse_ids(s);
  };
  while (std::getline(f, line)) {
    if (line.rfind("prompt: '", 0) == 0) {
      runs.emplace_back();
      runs.back().prompt_text = line.substr(9, line.find('\'', 9) - 9);
    } else if (line.rfind("prompt ids", 0) == 0) {
      runs.back().prompt = list(line);
    } else if (line.rfind("gen ids", 0) == 0) {
      runs.back().gen = list(line);
    }
  }
  return runs;
}

// The expected ids come from exact (f32/f64) activations. When cpu::matmul rounds activations
// to 8 bits as ggml does (the int8 fast path), the free-running greedy path may legitimately
// leave them at a near-tie, as current llama.cpp does at step 5 of 'Once upon a time' (see
// tests/data/model/index.json). Then the ids must agree up to a step where our own top two
// logits are within 0.1 and the expected id is our second choice.
TEST(Acceptance, TinyStoriesQ8_0GreedyExpectedIds) {
  const auto runs = read_tinystories_expected();
  ASSERT_EQ(runs.size(), 2u);
  const LoadedModel& lm = cached_model(test::shipped_model("TinyStories-656K-Q8_0.gguf"));
  EXPECT_EQ(lm.stats.weights_type, "q8_0");
  for (KvDtype dt : {KvDtype::F32, KvDtype::BF16}) {
    for (const ExpectedRun& r : runs) {
      Session s(lm, {.n_ctx = 0, .kv_dtype = dt, .kv_aligned = true, .n_threads = 1});
      const float* logits = s.prefill(r.prompt, false);
      for (size_t i = 0; i < r.gen.size(); ++i) {
        const TokenId got = argmax(logits, s.n_vocab());
        if (got != r.gen[i]) {
          std::vector<float> sorted(logits, logits + s.n_vocab());
          std::sort(sorted.begin(), sorted.end(), std::greater<float>());
          const float margin = sorted[0] - sorted[1];
          EXPECT_LE(margin, 0.1f) << "prompt '" << r.prompt_text << "' step " << i << ": got " << got
                                  << ", expected " << r.gen[i] << " (not a near-tie)";
          EXPECT_EQ(logits[r.gen[i]], sorted[1]) << "expected id is not our second choice at step " << i;
          std::printf("'%s' kv %s: ids equal for %zu steps, then a near-tie (margin %.3g) goes the other way\n",
                      r.prompt_text.c_str(), kv_type_name(dt), i, margin);
          break;
        }
        if (i + 1 < r.gen.size()) logits = s.decode(got);
      }
    }
  }
}

// With f32 activations (exact f32 math, no 8-bit activation rounding) the greedy ids equal the
// expected file exactly, for both prompts and every KV dtype; the fast int8 path above may flip
// the documented near-ties, as llama.cpp ec98e2002 itself does.
TEST(Acceptance, TinyStoriesQ8_0GreedyExpectedIdsExactWithF32Activations) {
  const auto runs = read_tinystories_expected();
  ASSERT_EQ(runs.size(), 2u);
  const LoadedModel& lm = cached_model(test::shipped_model("TinyStories-656K-Q8_0.gguf"));
  for (KvDtype dt : {KvDtype::F32, KvDtype::F16, KvDtype::BF16}) {
    for (const ExpectedRun& r : runs) {
      Session s(lm, {.n_ctx = 0, .kv_dtype = dt, .kv_aligned = true, .n_threads = 2, .f32_activations = true});
      const float* logits = s.prefill(r.prompt, false);
      std::vector<TokenId> got;
      for (size_t i = 0; i < r.gen.size(); ++i) {
        got.push_back(argmax(logits, s.n_vocab()));
        if (i + 1 < r.gen.size()) logits = s.decode(got.back());
      }
      EXPECT_EQ(got, r.gen) << "prompt '" << r.prompt_text << "' kv " << kv_type_name(dt);
    }
  }
}

TEST(Acceptance, TinyStoriesPromptIdsFromTokenizer) {
  const LoadedModel& lm = cached_model(test::shipped_model("TinyStories-656K-Q8_0.gguf"));
  for (const ExpectedRun& r : read_tinystories_expected()) {
    EXPECT_EQ(lm.tokenizer->encode(r.prompt_text, true, true), r.prompt) << r.prompt_text;
  }
}

// Teacher-forced comparison with llama.cpp's logits (tests/data/model/<model>.<tag>.json).
struct RefResult {
  float max_abs = 0.0f;
  std::vector<int> argmax_differs;  // steps
};

RefResult compare_reference(const std::string& file, int n_threads) {
  std::ifstream f(test::model_data(file.c_str()));
  const nlohmann::json j = nlohmann::json::parse(f);
  const LoadedModel& lm = cached_model(test::shipped_model(j["model"].get<std::string>().c_str()));
  Session s(lm, {.n_ctx = 512, .kv_dtype = KvDtype::F32, .kv_aligned = false, .n_threads = n_threads});
  const auto prompt = j["prompt_tokens"].get<std::vector<TokenId>>();
  const auto gen = j["generated_tokens"].get<std::vector<TokenId>>();
  const int32_t n_vocab = j["n_vocab"].get<int32_t>();
  EXPECT_EQ(n_vocab, s.n_vocab());
  RefResult res;
  const float* logits = s.prefill(prompt, false);
  for (size_t i = 0; i < gen.size(); ++i) {
    const auto ref = j["steps"][i]["logits"].get<std::vector<float>>();
    for (int32_t t = 0; t < n_vocab; ++t) res.max_abs = std::max(res.max_abs, std::fabs(logits[t] - ref[t]));
    if (argmax(logits, n_vocab) != gen[i]) res.argmax_differs.push_back(static_cast<int>(i));
    if (i + 1 < gen.size()) logits = s.decode(gen[i]);  // teacher forcing
  }
  return res;
}

TEST(Acceptance, Stories260KMatchesLlamaCppLogits) {
  for (const char* tag : {"once_upon_a_time", "the_little_dog", "lily_and_tom"}) {
    const RefResult r = compare_reference(std::string("stories260K.") + tag + ".json", 1);
    EXPECT_LE(r.max_abs, 1e-4f) << tag;
    EXPECT_TRUE(r.argmax_differs.empty()) << tag;
    std::printf("stories260K %-18s max |dlogit| = %.3g\n", tag, r.max_abs);
  }
}

TEST(Acceptance, TinyStoriesQ8_0MatchesLlamaCppLogitsUpToActivationRounding) {
  std::ifstream f(test::model_data("index.json"));
  const nlohmann::json index = nlohmann::json::parse(f);
  float overall = 0.0f;
  for (const auto& e : index) {
    const std::string file = e["file"].get<std::string>();
    if (file.rfind("TinyStories", 0) != 0) continue;
    const auto near_ties = e["steps_with_top2_margin_below_0_5"].get<std::vector<int>>();
    const RefResult r = compare_reference(file, 2);
    // f32 activations (no 8-bit activation rounding as ggml does): differences up to ~0.4.
    EXPECT_LE(r.max_abs, 0.5f) << file;
    // The ids are teacher-forced, so the logits of every step are comparable; a different
    // argmax is allowed only where llama.cpp's top two are within 0.5.
    for (int step : r.argmax_differs) {
      EXPECT_TRUE(std::find(near_ties.begin(), near_ties.end(), step) != near_ties.end())
          << file << ": argmax differs at step " << step << ", which is not a near-tie";
    }
    overall = std::max(overall, r.max_abs);
    std::printf("%-45s max |dlogit| = %.3g, argmax differs at %zu near-tie step(s)\n", file.c_str(), r.max_abs,
                r.argmax_differs.size());
  }
  std::printf("TinyStories-656K-Q8_0 overall max |dlogit| vs llama.cpp = %.3g\n", overall);
}

}  // namespace
}  // namespace greta
