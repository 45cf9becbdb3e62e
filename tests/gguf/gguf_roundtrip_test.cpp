// GgufWriter -> GgufFile round trips: every value type, nested arrays, every storage tensor type,
// streamed tensor data, alignment, atomic file writes, and writer-side errors.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_info.h"
#include "greta/gguf/gguf_writer.h"
#include "greta/quant/quant.h"

namespace greta::gguf {
namespace {

namespace fs = std::filesystem;

const TensorType kAllTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                                TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
                                TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("greta_gguf_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Quantized bytes of a [512, 3] tensor of smooth pseudo-random values.
std::vector<uint8_t> tensor_bytes(TensorType t, int64_t ne0, int64_t n_rows) {
  std::vector<uint8_t> out(static_cast<size_t>(tensor_row_bytes(t, ne0) * n_rows));
  std::vector<float> row(static_cast<size_t>(ne0));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < ne0; ++i) row[i] = std::sin(0.37f * float(i) + float(r)) * (1.0f + 0.01f * float(i % 7));
    quantize_row(t, row.data(), out.data() + r * tensor_row_bytes(t, ne0), ne0);
  }
  return out;
}

TEST(GgufRoundTrip, AllValueTypesAndTensorTypes) {
  GgufWriter w;
  w.set_alignment(64);
  w.add_u8("v.u8", 250);
  w.add_i8("v.i8", -128);
  w.add_u16("v.u16", 65535);
  w.add_i16("v.i16", -32768);
  w.add_u32("v.u32", 4000000000u);
  w.add_i32("v.i32", -2000000000);
  w.add_u64("v.u64", ~0ull);
  w.add_i64("v.i64", -(1ll << 62));
  w.add_f32("v.f32", -0.0f);
  w.add_f64("v.f64", 1e300);
  w.add_bool("v.bool", false);
  w.add_string("v.str", std::string("with\0nul", 8));
  w.add_string("v.empty", "");
  w.add_string_array("v.strs", {"a", "", "\xE2\x96\x81hi"});
  w.add_array_f32("v.f32s", {1.5f, -2.0f, NAN});
  w.add_array_i32("v.i32s", {});
  const uint64_t u64s[] = {1, 1ull << 63};
  w.add_array("v.u64s", ValueType::U64, u64s, 2);
  const uint8_t bools[] = {1, 0, 1};
  w.add_array("v.bools", ValueType::BOOL, bools, 3);

  std::vector<std::vector<uint8_t>> data;
  for (TensorType t : kAllTypes) {
    data.push_back(tensor_bytes(t, 512, 3));
    w.add_tensor(std::string("t.") + tensor_type_name(t), t, {512, 3}, data.back().data());
  }
  // A streamed tensor produced in uneven pieces; and a 4-D one.
  std::vector<uint8_t> streamed(1000 * 4);
  for (size_t i = 0; i < streamed.size(); ++i) streamed[i] = uint8_t(i * 13);
  w.add_tensor("streamed", TensorType::F32, {1000}, [&](ByteSink& out) {
    out.write(streamed.data(), 3);
    out.write(streamed.data() + 3, 0);
    out.write(streamed.data() + 3, streamed.size() - 3);
  });
  std::vector<uint8_t> four_d(2 * 3 * 4 * 5 * 2, 0x3c);
  w.add_tensor("four_d", TensorType::F16, {2, 3, 4, 5}, four_d.data());

  const std::vector<uint8_t> bytes = w.to_bytes();
  auto f = GgufFile::from_bytes(bytes.data(), bytes.size(), "rt.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->metadata().size(), w.n_kv());
  EXPECT_EQ(f->get_u32("v.u8"), 250u);
  EXPECT_EQ(f->get_i64("v.i8"), -128);
  EXPECT_EQ(f->get_u32("v.u16"), 65535u);
  EXPECT_EQ(f->get_i64("v.i16"), -32768);
  EXPECT_EQ(f->get_u32("v.u32"), 4000000000u);
  EXPECT_EQ(f->get_i64("v.i32"), -2000000000);
  EXPECT_EQ(f->get_u64("v.u64"), ~0ull);
  EXPECT_EQ(f->get_i64("v.i64"), -(1ll << 62));
  EXPECT_TRUE(std::signbit(f->get_f32("v.f32")));
  EXPECT_EQ(f->find("v.f64")->f, 1e300);
  EXPECT_FALSE(f->get_bool("v.bool"));
  EXPECT_EQ(f->get_string("v.str"), std::string_view("with\0nul", 8));
  EXPECT_EQ(f->get_string("v.empty"), "");
  const ArrayValue& strs = f->get_array("v.strs", ValueType::STRING);
  ASSERT_EQ(strs.size, 3u);
  EXPECT_EQ(strs.strings[2], "\xE2\x96\x81hi");
  const ArrayValue& f32s = f->get_array("v.f32s", ValueType::F32);
  EXPECT_EQ(f32s.get_float(1), -2.0);
  EXPECT_TRUE(std::isnan(f32s.get_float(2)));
  EXPECT_EQ(f->get_array("v.i32s", ValueType::I32).size, 0u);
  EXPECT_EQ(f->get_array("v.u64s", ValueType::U64).get_int(1), static_cast<int64_t>(1ull << 63));
  EXPECT_EQ(f->get_array("v.bools", ValueType::BOOL).get_int(2), 1);

  ASSERT_EQ(f->tensors().size(), std::size(kAllTypes) + 2);
  for (size_t i = 0; i < std::size(kAllTypes); ++i) {
    const TensorInfo& t = f->tensors()[i];
    EXPECT_EQ(t.name, std::string("t.") + tensor_type_name(kAllTypes[i]));
    EXPECT_EQ(t.type, kAllTypes[i]);
    EXPECT_EQ(t.shape_string(), "[512, 3]");
    EXPECT_EQ(t.offset % 64, 0u);
    ASSERT_EQ(t.n_bytes, data[i].size());
    EXPECT_EQ(std::memcmp(t.data, data[i].data(), t.n_bytes), 0) << t.name;
  }
  const TensorInfo* s = f->find_tensor("streamed");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(std::memcmp(s->data, streamed.data(), streamed.size()), 0);
  const TensorInfo* d4 = f->find_tensor("four_d");
  ASSERT_NE(d4, nullptr);
  EXPECT_EQ(d4->n_dims, 4);
  EXPECT_EQ(d4->n_elements(), 120);
  EXPECT_EQ(d4->n_rows(), 60);

  // The same image through a file: byte-identical, and the mapping sees the same tensors.
  const fs::path dir = temp_dir();
  const std::string path = (dir / "rt.gguf").string();
  w.write_file(path);
  EXPECT_EQ(read_all(path), bytes);
  auto g = GgufFile::open(path);
  EXPECT_EQ(g->tensors().size(), f->tensors().size());
  EXPECT_EQ(std::memcmp(g->find_tensor("t.q6_K")->data, data.back().data(), data.back().size()), 0);
  fs::remove_all(dir);
}

// Copying every key of a real file with add_value reproduces the values exactly.
TEST(GgufRoundTrip, CopyMetadataWithAddValue) {
  auto src = GgufFile::open(GRETA_SOURCE_DIR "/models/TinyStories-656K-Q8_0.gguf");
  GgufWriter w;
  for (const KeyValue& kv : src->metadata()) w.add_value(kv.key, kv.value);
  // A nested array too.
  const uint8_t raw[] = {2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 9, 0};  // u16[2] = {7, 9}
  ArrayValue inner;
  inner.elem_type = ValueType::U16;
  inner.size = 2;
  inner.data = raw + 12;
  Value inner_v;
  inner_v.type = ValueType::ARRAY;
  inner_v.arr = std::make_shared<ArrayValue>(inner);
  Value outer;
  outer.type = ValueType::ARRAY;
  outer.arr = std::make_shared<ArrayValue>();
  outer.arr->elem_type = ValueType::ARRAY;
  outer.arr->size = 2;
  outer.arr->arrays = {inner_v, inner_v};
  w.add_value("nested", outer);
  const auto bytes = w.to_bytes();
  auto f = GgufFile::from_bytes(bytes.data(), bytes.size());
  ASSERT_EQ(f->metadata().size(), src->metadata().size() + 1);
  for (size_t i = 0; i < src->metadata().size(); ++i) {
    EXPECT_EQ(f->metadata()[i].key, src->metadata()[i].key);
    EXPECT_EQ(value_type_text(f->metadata()[i].value), value_type_text(src->metadata()[i].value));
    EXPECT_EQ(value_to_text(f->metadata()[i].value, 1 << 20), value_to_text(src->metadata()[i].value, 1 << 20));
  }
  EXPECT_EQ(value_to_text(*f->find("nested")), "[[7, 9], [7, 9]]");
  EXPECT_EQ(value_type_text(*f->find("nested")), "array[array[u16; 2]; 2]");
}

TEST(GgufRoundTrip, WriterErrors) {
  GgufWriter w;
  w.add_u32("k", 1);
  EXPECT_EQ(error_of([&] { w.add_string("k", "x"); }), "gguf writer: duplicate key 'k'");
  EXPECT_EQ(error_of([&] { w.add_u32("", 1); }), "gguf writer: key length 0 is invalid (expected 1 to 65535)");
  EXPECT_EQ(error_of([&] { w.set_alignment(24); }),
            "gguf writer: alignment 24 is invalid (expected a power of two from 8 to 1048576)");
  const float x[64] = {};
  w.add_tensor("t", TensorType::F32, {64}, x);
  EXPECT_EQ(error_of([&] { w.add_tensor("t", TensorType::F32, {64}, x); }), "gguf writer: duplicate tensor name 't'");
  EXPECT_EQ(error_of([&] { w.add_tensor("q", TensorType::Q8_0, {48}, x); }),
            "gguf writer: tensor 'q': row length 48 is not a multiple of the q8_0 block size 32");
  EXPECT_EQ(error_of([&] { w.add_tensor("q", TensorType::F32, {1, 1, 1, 1, 1}, x); }),
            "gguf writer: tensor 'q': n_dims 5 is invalid (expected 1 to 4)");
  EXPECT_EQ(error_of([&] { w.add_tensor(std::string(64, 'n'), TensorType::F32, {1}, x); }),
            "gguf writer: tensor '" + std::string(64, 'n') + "': name length 64 is invalid (expected 1 to 63)");
  EXPECT_EQ(error_of([&] { w.add_tensor("q8k", TensorType::Q8_K, {256}, x); }),
            "gguf writer: tensor 'q8k': tensor type q8_K cannot be stored");
}

TEST(GgufRoundTrip, FailedWriteLeavesNoFile) {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "partial.gguf").string();
  GgufWriter w;
  w.add_u32("k", 1);
  std::vector<uint8_t> big(1 << 20, 1);
  w.add_tensor("ok", TensorType::F32, {1 << 18}, big.data());
  w.add_tensor("short", TensorType::F32, {64}, [](ByteSink& out) {
    const float v[10] = {};
    out.write(v, sizeof v);
  });
  EXPECT_EQ(error_of([&] { w.write_file(path); }),
            "gguf writer: tensor 'short': data callback produced 40 bytes, expected 256");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir)) << "temporary file left behind";

  // A callback that throws: the error passes through, nothing is left.
  GgufWriter w2;
  w2.add_tensor("boom", TensorType::F32, {4}, [](ByteSink&) { fail("generator failed"); });
  EXPECT_EQ(error_of([&] { w2.write_file(path); }), "generator failed");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir));

  // An existing file is replaced only by a complete one.
  GgufWriter ok;
  ok.add_u32("k", 2);
  ok.write_file(path);
  EXPECT_EQ(error_of([&] { w.write_file(path); }),
            "gguf writer: tensor 'short': data callback produced 40 bytes, expected 256");
  EXPECT_EQ(GgufFile::open(path)->get_u32("k"), 2u);

  const std::string bad = (dir / "no" / "such" / "dir.gguf").string();
  EXPECT_EQ(error_of([&] { ok.write_file(bad); }).rfind(bad + ": cannot create '" + bad + ".tmp.", 0), 0u);
  fs::remove_all(dir);
}

TEST(GgufInfo, ValueText) {
  auto str = [](std::string_view s) {
    Value v;
    v.type = ValueType::STRING;
    v.str = s;
    return value_to_text(v);
  };
  EXPECT_EQ(str("plain"), "\"plain\"");
  EXPECT_EQ(str("q\"b\\n\nt\t\x01"), "\"q\\\"b\\\\n\\nt\\t\\x01\"");
  EXPECT_EQ(str("\xE2\x96\x81hi"), "\"\xE2\x96\x81hi\"");  // valid UTF-8 passes through
  EXPECT_EQ(str("\xff\xE2\x96"), "\"\\xff\\xe2\\x96\"");  // invalid and truncated sequences are escaped
  // Long strings are cut at a character boundary, with the full length.
  std::string long_s(79, 'a');
  long_s += "\xE2\x96\x81tail";
  EXPECT_EQ(str(long_s), "\"" + std::string(79, 'a') + "\xE2\x96\x81\"...(86 bytes)");
  Value f;
  f.type = ValueType::F32;
  f.f = 1e-5f;
  EXPECT_EQ(value_to_text(f), "1e-05");
  f.type = ValueType::F64;
  f.f = 0.1;
  EXPECT_EQ(value_to_text(f), "0.1");
}

TEST(GgufInfo, RealModelsMatchKnownMetadata) {
  struct Expect {
    const char* path;
    std::vector<std::string> lines;
  };
  const Expect cases[] = {
      {GRETA_SOURCE_DIR "/models/stories260K.gguf",
       {"version: 3", "metadata: 19 keys", "  llama.block_count: u32 = 5", "  llama.embedding_length: u32 = 64",
        "  llama.attention.head_count: u32 = 8", "  llama.attention.head_count_kv: u32 = 4",
        "  llama.feed_forward_length: u32 = 172", "  llama.attention.layer_norm_rms_epsilon: f32 = 1e-05",
        "  tokenizer.ggml.tokens: array[string; 512] = [\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", \"<0x01>\", \"<0x02>\", ...]",
        "tensors: 48"}},
      {GRETA_SOURCE_DIR "/models/TinyStories-656K-Q8_0.gguf",
       {"version: 3", "metadata: 34 keys", "  llama.block_count: u32 = 2", "  llama.embedding_length: u32 = 128",
        "  llama.attention.head_count: u32 = 8", "  llama.attention.head_count_kv: u32 = 4",
        "  llama.vocab_size: u32 = 2048", "  general.license: string = \"apache-2.0\"",
        "  tokenizer.ggml.tokens: array[string; 2048] = [\"<unk>\", \"<|start_story|>\", \"<|end_story|>\", \"\\n\", \"!\", \"\\\"\", ...]",
        "tensors: 20"}},
      {GRETA_TEST_DATA "/gguf/llama-2-tiny-random.gguf",
       {"version: 3", "metadata: 18 keys", "  llama.block_count: u32 = 1", "  llama.embedding_length: u32 = 8",
        "  llama.attention.head_count: u32 = 2", "  llama.context_length: u32 = 4096", "  general.file_type: u32 = 1",
        "  tokenizer.ggml.tokens: array[string; 32000] = [\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", \"<0x01>\", \"<0x02>\", ...]",
        "tensors: 12"}},
  };
  for (const Expect& c : cases) {
    std::ostringstream os;
    print_info(*GgufFile::open(c.path), os);
    const std::string text = "\n" + os.str();
    for (const std::string& line : c.lines) EXPECT_NE(text.find("\n" + line + "\n"), std::string::npos) << c.path << ": " << line;
  }
  std::ostringstream os;
  print_info(*GgufFile::open(GRETA_SOURCE_DIR "/models/stories260K.gguf"), os);
  EXPECT_NE(os.str().find("      0  token_embd.weight         f32    [64, 512]             0        131072\n"),
            std::string::npos)
      << os.str();
}

}  // namespace
}  // namespace greta::gguf
