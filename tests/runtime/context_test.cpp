// The batch API's bookkeeping: the KV pool holds exactly the blocks in use, removing a sequence
// frees them, a fork shares its prefix (copy-on-write at the first diverging block), and a bad
// batch is an error naming the row with nothing of it applied.

#include <gtest/gtest.h>

#include "greta/core/error.h"
#include "greta/runtime/context.h"
#include "model_test_util.h"

namespace greta {
namespace {

using test::cached_model;
using test::make_prompt;

const LoadedModel& model() { return cached_model(test::shipped_model("stories260K.gguf")); }

ContextOptions options(int32_t n_seq_max = 4, int32_t kv_blocks = 0) {
  ContextOptions o;
  o.n_ctx = 256;
  o.n_seq_max = n_seq_max;
  o.kv_blocks = kv_blocks;
  o.kv_dtype = KvDtype::F16;
  o.kv_aligned = true;
  o.n_threads = 2;
  return o;
}

std::vector<BatchRow> rows_for(SeqId s, int32_t pos0, const std::vector<TokenId>& tokens, bool all_logits) {
  std::vector<BatchRow> r;
  for (size_t i = 0; i < tokens.size(); ++i) {
    r.push_back({s, pos0 + static_cast<int32_t>(i), tokens[i], all_logits || i + 1 == tokens.size()});
  }
  return r;
}

std::string error_of(Context& ctx, const std::vector<BatchRow>& rows) {
  try {
    ctx.decode(rows);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(KvPool, HoldsExactlyTheBlocksInUse) {
  Context ctx(model(), options());
  EXPECT_EQ(ctx.kv_stats().blocks_total, 4 * 8);  // 4 sequences x 256 / 32
  EXPECT_EQ(ctx.kv_stats().blocks_used, 0);
  const SeqId a = ctx.seq_add(), b = ctx.seq_add();
  ctx.decode(rows_for(a, 0, make_prompt(33, 512), false));  // 2 blocks
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);
  ctx.decode(rows_for(b, 0, make_prompt(64, 512), false));  // 2 blocks
  EXPECT_EQ(ctx.kv_stats().blocks_used, 4);
  ctx.decode(rows_for(b, 64, {5}, false));  // a third block for b
  EXPECT_EQ(ctx.kv_stats().blocks_used, 5);
  EXPECT_EQ(ctx.kv_stats().blocks_used + ctx.kv_stats().blocks_free, ctx.kv_stats().blocks_total);
  ctx.seq_remove(b);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);
  ctx.seq_remove(a);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 0);
  EXPECT_GT(ctx.kv_stats().bytes_per_block, 0);
}

TEST(KvPool, ForkSharesThePrefixAndCopiesOnWrite) {
  const auto prompt = make_prompt(40, 512, 3);
  const auto cont_a = make_prompt(10, 512, 4), cont_b = make_prompt(10, 512, 5);
  Context ctx(model(), options());
  const SeqId a = ctx.seq_add();
  ctx.decode(rows_for(a, 0, prompt, false));
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);
  const SeqId b = ctx.seq_fork(a);
  EXPECT_EQ(ctx.seq_len(b), 40);
  EXPECT_EQ(ctx.seq_blocks(b), ctx.seq_blocks(a));
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);  // shared, not copied
  // b writes into the shared second block: it gets a copy; the first block stays shared.
  std::vector<float> got_b;
  {
    const float* l = ctx.decode(rows_for(b, 40, cont_b, true));
    got_b.assign(l, l + 10 * 512);
  }
  EXPECT_EQ(ctx.kv_stats().blocks_used, 3);
  EXPECT_EQ(ctx.seq_blocks(b)[0], ctx.seq_blocks(a)[0]);
  EXPECT_NE(ctx.seq_blocks(b)[1], ctx.seq_blocks(a)[1]);
  // a continues differently; its block is its own again (refcount 1): no copy.
  std::vector<float> got_a;
  {
    const float* l = ctx.decode(rows_for(a, 40, cont_a, true));
    got_a.assign(l, l + 10 * 512);
  }
  EXPECT_EQ(ctx.kv_stats().blocks_used, 3);

  // Both continuations equal sequences computed from scratch, bit for bit.
  Context ref(model(), options());
  for (const auto& [cont, got] : {std::pair{cont_a, got_a}, std::pair{cont_b, got_b}}) {
    std::vector<TokenId> all = prompt;
    all.insert(all.end(), cont.begin(), cont.end());
    const SeqId s = ref.seq_add();
    const float* l = ref.decode(rows_for(s, 0, all, true));
    EXPECT_TRUE(test::bits_equal(l + 40 * 512, got.data(), 10 * 512));
    ref.seq_remove(s);
  }
  // Removing the source keeps the shared block alive for the fork.
  ctx.seq_remove(a);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);
  ctx.seq_remove(b);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 0);
}

TEST(Context, BadRowsAreErrorsAndNothingIsApplied) {
  Context ctx(model(), options(1));
  const SeqId a = ctx.seq_add();
  ctx.decode(rows_for(a, 0, make_prompt(10, 512), false));
  const KvStats before = ctx.kv_stats();
  // Row 1 names an unknown sequence; row 0 (valid) must not be applied either.
  EXPECT_EQ(error_of(ctx, {{a, 10, 5, false}, {42, 0, 5, true}}), "batch row 1: unknown sequence 42");
  EXPECT_EQ(error_of(ctx, {{a, 11, 5, true}}),
            "batch row 0: position 11 does not continue sequence 0 (expected position 10)");
  EXPECT_EQ(error_of(ctx, {{a, 10, 5, false}, {a, 10, 6, true}}),
            "batch row 1: position 10 does not continue sequence 0 (expected position 11)");
  EXPECT_EQ(error_of(ctx, {{a, 10, 512, true}}), "batch row 0: token id 512 out of range [0, 512)");
  EXPECT_EQ(error_of(ctx, {{a, 10, -1, true}}), "batch row 0: token id -1 out of range [0, 512)");
  EXPECT_EQ(error_of(ctx, {}), "empty batch");
  EXPECT_EQ(ctx.seq_len(a), 10);
  EXPECT_EQ(ctx.kv_stats().blocks_used, before.blocks_used);
  // Past the context: n_ctx 256.
  ctx.decode(rows_for(a, 10, make_prompt(246, 512), false));
  EXPECT_EQ(error_of(ctx, {{a, 256, 5, true}}), "batch row 0: position 256 of sequence 0 exceeds the context size 256");
}

TEST(Context, PoolExhaustionNamesNeededAndFreeBlocks) {
  Context ctx(model(), options(2, /*kv_blocks=*/3));
  const SeqId a = ctx.seq_add(), b = ctx.seq_add();
  ctx.decode(rows_for(a, 0, make_prompt(40, 512), false));  // 2 blocks
  auto rows = rows_for(b, 0, make_prompt(40, 512), true);   // would need 2, 1 is free
  EXPECT_EQ(error_of(ctx, rows),
            "KV pool exhausted: the batch needs 2 more blocks of 32 positions, 1 of 3 are free");
  EXPECT_EQ(ctx.seq_len(b), 0);
  EXPECT_EQ(ctx.kv_stats().blocks_used, 2);
  // A fork that would copy its shared last block counts the copy.
  const SeqId c = ctx.seq_fork(a);
  ctx.decode(rows_for(c, 40, {7}, false));  // copies block 2 of a: the last free block
  EXPECT_EQ(ctx.kv_stats().blocks_free, 0);
  // a's second block is its own again: a keeps writing into it without a copy.
  ctx.decode(rows_for(a, 40, {7}, false));
  // Shared again by a new fork: a's next write needs a copy, and no block is free.
  ctx.seq_fork(a);
  EXPECT_EQ(error_of(ctx, {{a, 41, 7, true}}),
            "KV pool exhausted: the batch needs 1 more blocks of 32 positions, 0 of 3 are free");
  EXPECT_EQ(ctx.seq_len(a), 41);
}

}  // namespace
}  // namespace greta
