// Issue 6, item 3: bad GGUF content. A file truncated at every section boundary, a valid GGUF of
// an unsupported architecture, and vocabulary/tensor inconsistencies each get a one-line error
// naming the file and what was expected, a non-zero exit status and no crash: in the library
// (GgufFile, load_model) and through the CLIs (greta_gguf info, greta_infer, greta_tokenize).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/hardening_util.h"
#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/runtime/session.h"

namespace greta {
namespace {

namespace fs = std::filesystem;
using gguf::GgufFile;
using gguf::GgufWriter;
using gguf::KeyValue;
using gguf::TensorInfo;
using gguf::ValueType;
using test::ProcResult;

const std::string kBin = GRETA_BIN_DIR;
const std::string kModel = std::string(GRETA_SOURCE_DIR) + "/models/stories260K.gguf";
const std::string kModelQ8 = std::string(GRETA_SOURCE_DIR) + "/models/TinyStories-656K-Q8_0.gguf";

class HardeningGguf : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("greta_hardening_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// The message of the greta::Error that fn throws ("" if it does not throw one).
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_cli_error(const ProcResult& r, const std::string& tool, const std::string& file,
                      const std::string& problem) {
  EXPECT_EQ(r.term_signal, 0) << "killed by signal " << r.term_signal << "\n" << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind(tool + ": error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(problem), std::string::npos) << "expected '" << problem << "' in: " << r.err;
}

// --- truncation --------------------------------------------------------------------------------

TEST_F(HardeningGguf, BoundaryWalkerCoversTheFile) {
  const auto bytes = test::read_bytes(kModel);
  const auto b = test::gguf_boundaries(bytes);
  // 4 header fields, 19 keys (>= 4 boundaries each), 48 tensor infos (6 each), 48 * 2 data points.
  EXPECT_GE(b.size(), 4u + 19 * 4 + 48 * 6 + 48 * 2);
  for (const auto& x : b) EXPECT_LT(x.offset, bytes.size()) << x.what;
}

// Every section boundary (and every byte of the first 4 KiB) in the library: a specific error.
TEST_F(HardeningGguf, TruncatedAtEveryBoundaryInTheLibrary) {
  for (const std::string& model : {kModel, kModelQ8}) {
    const auto bytes = test::read_bytes(model);
    std::vector<uint64_t> cuts;
    for (const auto& b : test::gguf_boundaries(bytes)) cuts.push_back(b.offset);
    for (uint64_t n = 0; n < 4096; ++n) cuts.push_back(n);
    for (uint64_t n : cuts) {
      const std::string msg = error_of([&] { GgufFile::from_bytes(bytes.data(), n, "cut.gguf"); });
      ASSERT_FALSE(msg.empty()) << model << " truncated to " << n << " bytes was accepted";
      EXPECT_EQ(msg.rfind("cut.gguf: ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

// The same through the CLI: exit 1, one line naming the file, nothing printed, no crash.
TEST_F(HardeningGguf, TruncatedAtEveryBoundaryThroughGgufInfo) {
  if (!fs::exists(kBin + "/greta_gguf")) GTEST_SKIP() << "greta_gguf is not built";
  const auto bytes = test::read_bytes(kModel);
  const std::string cut = path("truncated.gguf");
  int n_runs = 0;
  for (const auto& b : test::gguf_boundaries(bytes)) {
    SCOPED_TRACE("truncated " + b.what + " (" + std::to_string(b.offset) + " bytes)");
    test::write_bytes(cut, bytes.data(), b.offset);
    const ProcResult r = test::run_process({kBin + "/greta_gguf", "info", cut}, {});
    EXPECT_EQ(r.term_signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("greta_gguf: error: " + cut + ": ", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
    ++n_runs;
    if (HasFailure()) break;  // one broken boundary is enough to report
  }
  EXPECT_GT(n_runs, 400);
}

TEST_F(HardeningGguf, TruncationMessagesSayWhatIsMissing) {
  const auto bytes = test::read_bytes(kModel);
  auto msg_at = [&](uint64_t n) { return error_of([&] { GgufFile::from_bytes(bytes.data(), n, "m.gguf"); }); };
  EXPECT_EQ(msg_at(3), "m.gguf: file is too small to be GGUF (3 bytes)");
  EXPECT_NE(msg_at(6).find("unexpected end of file reading version"), std::string::npos) << msg_at(6);
  EXPECT_NE(msg_at(24).find("tensor count 48 is impossible in a 24-byte file"), std::string::npos) << msg_at(24);
  EXPECT_NE(msg_at(bytes.size() - 1).find("extends past the end of the data section"), std::string::npos)
      << msg_at(bytes.size() - 1);
}

// --- model content -----------------------------------------------------------------------------

// stories260K with general.architecture replaced: a valid GGUF greta cannot run.
std::string write_with_arch(const std::string& out, const std::string& arch) {
  auto src = GgufFile::open(kModel);
  test::GgufEdit e;
  e.on_kv = [&](const KeyValue& kv, GgufWriter& w) {
    if (kv.key != "general.architecture") return true;
    w.add_string(kv.key, arch);
    return false;
  };
  test::rewrite_gguf(*src, e, out);
  return out;
}

TEST_F(HardeningGguf, UnsupportedArchitectureInTheLibrary) {
  const std::string f = write_with_arch(path("mamba.gguf"), "mamba");
  ASSERT_NO_THROW(GgufFile::open(f));  // the file itself is valid
  EXPECT_EQ(error_of([&] { load_model(f); }),
            "loading model '" + f + "': unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, phi3)");
}

TEST_F(HardeningGguf, UnsupportedArchitectureThroughGretaInfer) {
  if (!fs::exists(kBin + "/greta_infer")) GTEST_SKIP() << "greta_infer is not built";
  const std::string f = write_with_arch(path("mamba.gguf"), "mamba");
  const ProcResult r = test::run_process({kBin + "/greta_infer", "-m", f, "-p", "hi", "-n", "1", "--seed", "1"}, {});
  expect_cli_error(r, "greta_infer", f, "unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, phi3)");
  EXPECT_EQ(r.out, "");
}

TEST_F(HardeningGguf, UnsupportedArchitectureStillDescribedByGgufInfo) {
  if (!fs::exists(kBin + "/greta_gguf")) GTEST_SKIP() << "greta_gguf is not built";
  const std::string f = write_with_arch(path("mamba.gguf"), "mamba");
  const ProcResult r = test::run_process({kBin + "/greta_gguf", "info", f}, {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mamba"), std::string::npos);
}

TEST_F(HardeningGguf, MissingArchitecture) {
  auto src = GgufFile::open(kModel);
  const std::string f = path("noarch.gguf");
  test::GgufEdit e;
  e.on_kv = [](const KeyValue& kv, GgufWriter&) { return kv.key != "general.architecture"; };
  test::rewrite_gguf(*src, e, f);
  const std::string msg = error_of([&] { load_model(f); });
  EXPECT_NE(msg.find("'" + f + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("general.architecture"), std::string::npos) << msg;
}

// token_embd.weight (and the output projection) with 256 rows while the tokenizer has 512 tokens.
std::string write_short_embedding(const std::string& out) {
  auto src = GgufFile::open(kModel);
  test::GgufEdit e;
  e.on_tensor = [](const TensorInfo& t, GgufWriter& w) {
    if (t.name != "token_embd.weight" && t.name != "output.weight") return true;
    w.add_tensor(t.name, t.type, {t.ne[0], t.ne[1] / 2}, t.data);
    return false;
  };
  test::rewrite_gguf(*src, e, out);
  return out;
}

TEST_F(HardeningGguf, EmbeddingRowsDifferFromVocabSizeInTheLibrary) {
  const std::string f = write_short_embedding(path("short_embd.gguf"));
  ASSERT_NO_THROW(GgufFile::open(f));
  EXPECT_EQ(error_of([&] { load_model(f); }),
            "loading model '" + f + "': the tokenizer has 512 tokens but token_embd.weight has only 256 rows");
}

TEST_F(HardeningGguf, EmbeddingRowsDifferFromVocabSizeThroughGretaInfer) {
  if (!fs::exists(kBin + "/greta_infer")) GTEST_SKIP() << "greta_infer is not built";
  const std::string f = write_short_embedding(path("short_embd.gguf"));
  const ProcResult r = test::run_process({kBin + "/greta_infer", "-m", f, "-p", "hi", "-n", "1", "--seed", "1"}, {});
  expect_cli_error(r, "greta_infer", f, "the tokenizer has 512 tokens but token_embd.weight has only 256 rows");
  EXPECT_EQ(r.out, "");
}

// tokenizer.ggml.scores shorter than tokenizer.ggml.tokens.
TEST_F(HardeningGguf, ScoresShorterThanTokens) {
  auto src = GgufFile::open(kModel);
  const std::string f = path("short_scores.gguf");
  test::GgufEdit e;
  e.on_kv = [](const KeyValue& kv, GgufWriter& w) {
    if (kv.key != "tokenizer.ggml.scores") return true;
    w.add_array(kv.key, ValueType::F32, kv.value.arr->data, kv.value.arr->size - 1);
    return false;
  };
  test::rewrite_gguf(*src, e, f);
  EXPECT_EQ(error_of([&] { load_model(f); }),
            "loading model '" + f + "': loading the tokenizer of '" + f +
                "': tokenizer: tokenizer.ggml.scores has 511 entries but tokenizer.ggml.tokens has 512; expected one "
                "score per token");
  if (fs::exists(kBin + "/greta_tokenize")) {
    const ProcResult r = test::run_process({kBin + "/greta_tokenize", "-m", f, "-p", "hello"}, {});
    expect_cli_error(r, "greta_tokenize", f, "tokenizer.ggml.scores");
  }
}

// A special-token id outside the vocabulary.
TEST_F(HardeningGguf, BosTokenIdOutOfRange) {
  auto src = GgufFile::open(kModel);
  const std::string f = path("bad_bos.gguf");
  test::GgufEdit e;
  e.on_kv = [](const KeyValue& kv, GgufWriter& w) {
    if (kv.key != "tokenizer.ggml.bos_token_id") return true;
    w.add_u32(kv.key, 70000);
    return false;
  };
  test::rewrite_gguf(*src, e, f);
  EXPECT_EQ(error_of([&] { load_model(f); }),
            "loading model '" + f + "': loading the tokenizer of '" + f +
                "': tokenizer: tokenizer.ggml.bos_token_id = 70000 is not a token id (vocab has 512 tokens)");
}

// A weight with the wrong shape names the tensor and both shapes.
TEST_F(HardeningGguf, WeightWithWrongShape) {
  auto src = GgufFile::open(kModel);
  const std::string f = path("bad_shape.gguf");
  test::GgufEdit e;
  e.on_tensor = [](const TensorInfo& t, GgufWriter& w) {
    if (t.name != "blk.2.attn_k.weight") return true;
    w.add_tensor(t.name, t.type, {t.ne[0], t.ne[1] / 2}, t.data);  // [64, 16] instead of [64, 32]
    return false;
  };
  test::rewrite_gguf(*src, e, f);
  EXPECT_EQ(error_of([&] { load_model(f); }),
            "loading model '" + f + "': tensor 'blk.2.attn_k.weight' has shape [64, 16], expected [64, 32]");
}

}  // namespace
}  // namespace greta
