// The GGUF reader on real files: the shipped models, the llama.cpp vocab files, and a v1 file.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta::gguf {
namespace {

const std::string kStories = GRETA_SOURCE_DIR "/models/stories260K.gguf";
const std::string kTinyStories = GRETA_SOURCE_DIR "/models/TinyStories-656K-Q8_0.gguf";
const std::string kTinyRandom = GRETA_TEST_DATA "/gguf/llama-2-tiny-random.gguf";
const std::string kStoriesV1 = GRETA_TEST_DATA "/gguf/stories260K.gguf-v1.gguf";

std::string error_of(const std::string& path) {
  try {
    GgufFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GgufRealFiles, Stories260KMetadata) {
  auto f = GgufFile::open(kStories);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 19u);
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_u32("llama.block_count"), 5u);
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f->get_u32("llama.feed_forward_length"), 172u);
  EXPECT_EQ(f->get_u32("llama.context_length"), 2048u);
  EXPECT_FALSE(f->has("llama.rope.freq_base"));
  EXPECT_EQ(f->get_f32_or("llama.rope.freq_base", 10000.0f), 10000.0f);
  const ArrayValue& tokens = f->get_array("tokenizer.ggml.tokens", ValueType::STRING);
  EXPECT_EQ(tokens.size, 512u);
  EXPECT_EQ(tokens.strings.size(), 512u);
  EXPECT_EQ(tokens.strings[0], "<unk>");
  EXPECT_EQ(tokens.strings[3], "<0x00>");
  const ArrayValue& scores = f->get_array("tokenizer.ggml.scores", ValueType::F32);
  EXPECT_EQ(scores.size, 512u);
  EXPECT_EQ(scores.get_float(259), 0.0);
  EXPECT_EQ(scores.get_float(260), -1.0);

  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, TensorType::F32);
  EXPECT_EQ(emb->shape_string(), "[64, 512]");
  EXPECT_EQ(emb->n_bytes, 64u * 512u * 4u);
  const TensorInfo* q = f->find_tensor("blk.4.attn_k.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape_string(), "[64, 32]");
  EXPECT_EQ(f->find_tensor("blk.5.attn_k.weight"), nullptr);
  // Every f32 weight is finite.
  for (const TensorInfo& t : f->tensors()) {
    const float* p = reinterpret_cast<const float*>(t.data);
    for (int64_t i = 0; i < t.n_elements(); ++i) ASSERT_TRUE(std::isfinite(p[i])) << t.name;
  }
}

TEST(GgufRealFiles, TinyStoriesQ8) {
  auto f = GgufFile::open(kTinyStories);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  bool any_q8 = false;
  for (const TensorInfo& t : f->tensors()) any_q8 |= t.type == TensorType::Q8_0;
  EXPECT_TRUE(any_q8);
  EXPECT_EQ(f->data_offset() % f->alignment(), 0u);
}

TEST(GgufRealFiles, TinyRandom) {
  auto f = GgufFile::open(kTinyRandom);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_GT(f->tensors().size(), 0u);
}

TEST(GgufRealFiles, AccessorErrors) {
  auto f = GgufFile::open(kStories);
  try {
    f->get_u32("llama.nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), kStories + ": key 'llama.nope' missing");
  }
  try {
    f->get_u32("general.architecture");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), kStories + ": key 'general.architecture' has type string, expected u32");
  }
  try {
    f->get_array("tokenizer.ggml.tokens", ValueType::F32);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              kStories + ": key 'tokenizer.ggml.tokens' has type array of string, expected array of f32");
  }
  EXPECT_EQ(f->find_array("tokenizer.nope", ValueType::F32), nullptr);
}

TEST(GgufRealFiles, VocabFilesParse) {
  const std::string dir = "/work/shared/reference/tokenizer";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no " << dir;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    EXPECT_NO_THROW(GgufFile::open(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(GgufRealFiles, RejectsVersion1) {
  EXPECT_EQ(error_of(kStoriesV1), kStoriesV1 + ": GGUF version 1 is unsupported (expected version 2 or 3)");
}

TEST(GgufRealFiles, MissingFile) {
  const std::string p = GRETA_TEST_DATA "/gguf/does-not-exist.gguf";
  EXPECT_EQ(error_of(p), p + ": cannot open: No such file or directory");
}

TEST(GgufRealFiles, DirectoryAndEmptyFile) {
  const std::string dir = GRETA_TEST_DATA "/gguf";
  EXPECT_EQ(error_of(dir), dir + ": not a regular file");
  const std::string empty = (std::filesystem::temp_directory_path() / "greta_gguf_empty_test.gguf").string();
  { std::ofstream(empty, std::ios::binary); }
  EXPECT_EQ(error_of(empty), empty + ": file is too small to be GGUF (0 bytes)");
  std::filesystem::remove(empty);
}

// Tensor data in the mapping is aligned to the file's alignment (at least 8 bytes).
TEST(GgufRealFiles, TensorDataAligned) {
  for (const std::string& p : {kStories, kTinyStories, kTinyRandom}) {
    auto f = GgufFile::open(p);
    for (const TensorInfo& t : f->tensors()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % f->alignment(), 0u) << p << " " << t.name;
    }
  }
}

}  // namespace
}  // namespace greta::gguf
