// Generator choices (n > 1 through forked sequences) and stop_choice.
#include <map>

#include <gtest/gtest.h>

#include "greta/core/error.h"
#include "greta/runtime/context.h"
#include "greta/runtime/generator.h"
#include "model_test_util.h"

namespace greta {
namespace {

struct ChoiceRun {
  std::map<std::pair<int64_t, int32_t>, std::vector<TokenId>> tokens;  // (request, choice) -> tokens
  std::map<std::pair<int64_t, int32_t>, std::vector<float>> logits;    // first logit of each token's logits
  std::map<std::pair<int64_t, int32_t>, std::string> stop;
  int32_t peak_blocks = 0;
};

ChoiceRun run_all(Context& ctx, const Tokenizer& tok, int32_t parallel, const std::vector<GenerationRequest>& reqs) {
  Generator gen(ctx, tok, parallel);
  for (const GenerationRequest& r : reqs) gen.submit(r);
  ChoiceRun out;
  while (!gen.idle()) {
    gen.step([&](const GenerationEvent& e) {
      const auto key = std::make_pair(e.request, e.choice);
      if (e.kind == GenerationEvent::Kind::Token) {
        out.tokens[key].push_back(e.token);
        EXPECT_NE(e.logits, nullptr);
        out.logits[key].push_back(e.logits[e.token]);
      }
      if (e.kind == GenerationEvent::Kind::Done) out.stop[key] = e.stop_reason;
    });
    out.peak_blocks = std::max(out.peak_blocks, ctx.kv_stats().blocks_used);
  }
  EXPECT_EQ(ctx.kv_stats().blocks_used, 0);
  return out;
}

GenerationRequest request(const Tokenizer& tok, const char* text, uint64_t seed, int32_t n, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = tok.encode(text, true, true);
  r.max_tokens = max_tokens;
  r.sampling = SamplerParams{0.9f, 0, 1.0f, 0.0f};
  r.seed = seed;
  r.n = n;
  r.ignore_eos = true;
  r.token_logits = true;  // the tests read the logits of Token events
  return r;
}

const LoadedModel& stories() { return test::cached_model(test::shipped_model("stories260K.gguf")); }

TEST(GeneratorChoices, ChoiceCEqualsTheSameRequestWithSeedPlusC) {
  const LoadedModel& lm = stories();
  Context ctx(lm, {.n_seq_max = 4, .kv_aligned = true, .n_threads = 2});
  const Tokenizer& tok = *lm.tokenizer;
  // A prompt of 40+ positions: the forks share its full first block and copy the partial one.
  const char* prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
                       "with her friends and her dog.";
  const ChoiceRun forked = run_all(ctx, tok, 4, {request(tok, prompt, 7, 3, 12)});
  for (int32_t c = 0; c < 3; ++c) {
    const ChoiceRun one = run_all(ctx, tok, 4, {request(tok, prompt, 7 + static_cast<uint64_t>(c), 1, 12)});
    EXPECT_EQ(forked.tokens.at({0, c}), one.tokens.at({0, 0})) << "choice " << c;
    EXPECT_EQ(forked.logits.at({0, c}), one.logits.at({0, 0})) << "choice " << c;
    EXPECT_EQ(forked.stop.at({0, c}), "max-tokens");
  }
  // Three choices of ~2 blocks each, sharing the prompt's full blocks: fewer blocks than three
  // independent sequences.
  const int32_t n_prompt = static_cast<int32_t>(tok.encode(prompt, true, true).size());
  ASSERT_GE(n_prompt, 32);
  EXPECT_LT(forked.peak_blocks, 3 * ((n_prompt + 12 + 31) / 32));
}

TEST(GeneratorChoices, ChoicesWaitForRoomAndRejectMoreThanParallel) {
  const LoadedModel& lm = stories();
  Context ctx(lm, {.n_seq_max = 3, .kv_aligned = true, .n_threads = 2});
  const Tokenizer& tok = *lm.tokenizer;
  {
    Generator gen(ctx, tok, 3);
    EXPECT_THROW(gen.submit(request(tok, "Hi", 1, 4, 4)), Error);
    EXPECT_THROW(gen.submit(request(tok, "Hi", 1, 0, 4)), Error);
  }
  // 2 + 3 choices with parallel 3: the second request waits for the first; both complete, and
  // each equals itself alone.
  const ChoiceRun both = run_all(ctx, tok, 3, {request(tok, "One day", 3, 2, 6), request(tok, "The cat", 4, 3, 6)});
  const ChoiceRun a = run_all(ctx, tok, 3, {request(tok, "One day", 3, 2, 6)});
  const ChoiceRun b = run_all(ctx, tok, 3, {request(tok, "The cat", 4, 3, 6)});
  for (int32_t c = 0; c < 2; ++c) EXPECT_EQ(both.tokens.at({0, c}), a.tokens.at({0, c}));
  for (int32_t c = 0; c < 3; ++c) EXPECT_EQ(both.tokens.at({1, c}), b.tokens.at({0, c}));
}

TEST(GeneratorChoices, StopChoiceEndsOneChoiceAndFreesItsSequence) {
  const LoadedModel& lm = stories();
  Context ctx(lm, {.n_seq_max = 2, .kv_aligned = true, .n_threads = 2});
  const Tokenizer& tok = *lm.tokenizer;
  Generator gen(ctx, tok, 2);
  gen.submit(request(tok, "Once upon a time", 5, 2, 20));
  std::map<int32_t, int> tokens, dones;
  bool stopped = false;
  while (!gen.idle()) {
    gen.step([&](const GenerationEvent& e) {
      if (e.kind == GenerationEvent::Kind::Token) tokens[e.choice] += 1;
      if (e.kind == GenerationEvent::Kind::Done) dones[e.choice] += 1;
    });
    if (!stopped && tokens[1] == 3) {
      gen.stop_choice(0, 1);
      stopped = true;
      EXPECT_EQ(gen.n_sequences(), 1);
    }
  }
  EXPECT_EQ(tokens[0], 20);
  EXPECT_EQ(tokens[1], 3);
  EXPECT_EQ(dones[0], 1);
  EXPECT_EQ(dones[1], 0);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 0);
}

}  // namespace
}  // namespace greta
