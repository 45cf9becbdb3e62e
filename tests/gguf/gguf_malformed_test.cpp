// The malformed-file suite: each case starts from a valid image, breaks one thing, and asserts
// the reader's specific error message. Runs under ASan/UBSan in CI, so "no crash, no read
// outside the mapping" is checked too.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gguf/raw_gguf.h"
#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta::gguf {
namespace {

using ::testing::HasSubstr;
using namespace greta::gguf::test_util;

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    GgufFile::from_bytes(bytes.data(), bytes.size(), "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}
std::string error_of(const RawGguf& g) { return error_of(g.serialize()); }

// Index of the key/tensor in valid_raw().
size_t kv_index(const RawGguf& g, const std::string& key) {
  for (size_t i = 0; i < g.kvs.size(); ++i) {
    if (g.kvs[i].key == key) return i;
  }
  ADD_FAILURE() << "no key " << key;
  return 0;
}

TEST(GgufMalformed, ValidBaseParses) {
  RawGguf g = valid_raw();
  const auto bytes = g.serialize();
  auto f = GgufFile::from_bytes(bytes.data(), bytes.size(), "ok.gguf");
  EXPECT_EQ(f->metadata().size(), g.kvs.size());
  EXPECT_EQ(f->get_u32("general.alignment"), 32u);
  EXPECT_EQ(f->get_u32("t.u8"), 200u);
  EXPECT_EQ(f->get_i64("t.i8"), -100);
  EXPECT_EQ(f->get_u32("t.u16"), 60000u);
  EXPECT_EQ(f->get_i64("t.i16"), -30000);
  EXPECT_EQ(f->get_i64("t.i32"), -5);
  EXPECT_EQ(f->get_f32("t.f32"), 1.5f);
  EXPECT_TRUE(f->get_bool("t.bool"));
  EXPECT_EQ(f->get_u64("t.u64"), 1ull << 40);
  EXPECT_EQ(f->get_i64("t.i64"), -(1ll << 40));
  EXPECT_EQ(f->get_f32("t.f64"), 0.25f);
  const ArrayValue& ai = f->get_array("t.arr_i32", ValueType::I32);
  ASSERT_EQ(ai.size, 3u);
  EXPECT_EQ(ai.get_int(0), 7);
  EXPECT_EQ(ai.get_int(1), -8);
  EXPECT_EQ(ai.get_float(2), 9.0);
  const ArrayValue& as = f->get_array("t.arr_str", ValueType::STRING);
  ASSERT_EQ(as.strings.size(), 2u);
  EXPECT_EQ(as.strings[0], "hello");
  EXPECT_EQ(as.strings[1], "");
  const ArrayValue& aa = f->get_array("t.arr_arr", ValueType::ARRAY);
  ASSERT_EQ(aa.arrays.size(), 2u);
  EXPECT_EQ(aa.arrays[0].arr->elem_type, ValueType::U16);
  EXPECT_EQ(aa.arrays[0].arr->get_int(1), 2);
  EXPECT_EQ(aa.arrays[1].arr->size, 0u);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->data_offset(), g.data_offset);
  EXPECT_EQ(f->tensors()[1].type, TensorType::Q8_0);
  EXPECT_EQ(f->tensors()[1].n_bytes, 102u);
  EXPECT_EQ(f->tensors()[1].data, f->tensors()[0].data + 256);
}

TEST(GgufMalformed, AccessorRangeErrors) {
  const auto bytes = valid_raw().serialize();
  auto f = GgufFile::from_bytes(bytes.data(), bytes.size(), "ok.gguf");
  auto err = [&](auto fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  };
  EXPECT_EQ(err([&] { f->get_u32("t.i32"); }), "ok.gguf: key 't.i32' value -5 out of range for u32");
  EXPECT_EQ(err([&] { f->get_u32("t.u64"); }), "ok.gguf: key 't.u64' value 1099511627776 out of range for u32");
  EXPECT_EQ(err([&] { f->get_f32("t.u8"); }), "ok.gguf: key 't.u8' has type u8, expected f32");
  EXPECT_EQ(err([&] { f->get_bool("t.u8"); }), "ok.gguf: key 't.u8' has type u8, expected bool");
  EXPECT_EQ(err([&] { f->get_string("t.u8"); }), "ok.gguf: key 't.u8' has type u8, expected string");
  EXPECT_EQ(err([&] { f->get_array("t.u8", ValueType::U8); }), "ok.gguf: key 't.u8' has type u8, expected array of u8");
  EXPECT_EQ(err([&] { f->get_array("t.none", ValueType::U8); }), "ok.gguf: key 't.none' missing");
  EXPECT_EQ(f->get_u32_or("t.none", 7), 7u);
  EXPECT_EQ(f->get_string_or("t.none", "x"), "x");
  EXPECT_FALSE(f->get_bool_or("t.none", false));
}

TEST(GgufMalformed, Header) {
  RawGguf g = valid_raw();
  g.magic = 0x12345678;
  EXPECT_EQ(error_of(g), "bad.gguf: not a GGUF file (magic 0x12345678, expected 0x46554747 'GGUF')");
  g = valid_raw();
  g.version = 1;
  EXPECT_EQ(error_of(g), "bad.gguf: GGUF version 1 is unsupported (expected version 2 or 3)");
  g.version = 4;
  EXPECT_EQ(error_of(g), "bad.gguf: GGUF version 4 is unsupported (expected version 2 or 3)");
  g.version = 0x03000000;
  EXPECT_EQ(error_of(g), "bad.gguf: big-endian GGUF files are unsupported");
  g.version = 2;  // v2 has the v3 layout
  EXPECT_EQ(error_of(g), "<no error>");
  EXPECT_EQ(error_of(std::vector<uint8_t>{}), "bad.gguf: file is too small to be GGUF (0 bytes)");
  EXPECT_EQ(error_of(std::vector<uint8_t>{'G', 'G', 'U'}), "bad.gguf: file is too small to be GGUF (3 bytes)");
}

TEST(GgufMalformed, HugeCounts) {
  RawGguf g = valid_raw();
  const size_t size = g.serialize().size();
  g.n_tensors = ~0ull;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor count 18446744073709551615 is impossible in a " + std::to_string(size) +
                             "-byte file");
  g.n_tensors = 1ull << 63;  // "negative" as int64
  EXPECT_EQ(error_of(g), "bad.gguf: tensor count 9223372036854775808 is impossible in a " + std::to_string(size) +
                             "-byte file");
  g = valid_raw();
  g.n_kv = ~0ull;
  EXPECT_EQ(error_of(g), "bad.gguf: metadata count 18446744073709551615 is impossible in a " + std::to_string(size) +
                             "-byte file");
  // A count that fits the bound but not the content runs into the end of the file.
  g = valid_raw();
  g.n_kv = g.kvs.size() + 3;
  EXPECT_THAT(error_of(g), HasSubstr("bad.gguf: "));
}

TEST(GgufMalformed, Keys) {
  RawGguf g = valid_raw();
  g.kvs[0].key_len = ~0ull;
  EXPECT_EQ(error_of(g), "bad.gguf: metadata key 0 length 18446744073709551615 exceeds the limit of 65535 bytes");
  g.kvs[0].key_len = 65536;
  EXPECT_EQ(error_of(g), "bad.gguf: metadata key 0 length 65536 exceeds the limit of 65535 bytes");
  g.kvs[0].key_len = 65535;  // within the limit, past the end of the file
  const uint64_t left = g.serialize().size() - 24 - 8;
  EXPECT_EQ(error_of(g), "bad.gguf: metadata key 0 length 65535 exceeds the " + std::to_string(left) +
                             " bytes left in the file at offset 32");
  g = valid_raw();
  g.kvs[0].key = "";
  EXPECT_EQ(error_of(g), "bad.gguf: metadata key 0 is empty");
  g = valid_raw();
  g.kvs.push_back(kv_string("general.architecture", "again"));
  EXPECT_EQ(error_of(g), "bad.gguf: duplicate key 'general.architecture'");
}

TEST(GgufMalformed, Values) {
  RawGguf g = valid_raw();
  size_t i = kv_index(g, "general.architecture");
  g.kvs[i].payload = Payload().put<uint64_t>(1000000).put<uint32_t>(0);
  const auto bytes = g.serialize();
  // The string length field sits right after the key (8 + 20 bytes) and type (4 bytes).
  const uint64_t at = 24 + 8 + 20 + 4 + 8;
  EXPECT_EQ(error_of(bytes), "bad.gguf: key 'general.architecture' string length 1000000 exceeds the " +
                                 std::to_string(bytes.size() - at) + " bytes left in the file at offset " +
                                 std::to_string(at));
  g = valid_raw();
  i = kv_index(g, "t.u8");
  g.kvs[i].type = 13;
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.u8': unknown value type 13");
  g.kvs[i].type = 0xffffffffu;
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.u8': unknown value type 4294967295");
  g = valid_raw();
  i = kv_index(g, "t.bool");
  g.kvs[i].payload = Payload().put<uint8_t>(2);
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.bool': bool value 2 (expected 0 or 1)");
}

// An array nested `depth` levels deep: [[[...[u8 5]...]]].
Payload nested(int depth) {
  Payload p;
  for (int d = 1; d < depth; ++d) p.put<uint32_t>(kArray).put<uint64_t>(1);
  return p.put<uint32_t>(kU8).put<uint64_t>(1).put<uint8_t>(5);
}

TEST(GgufMalformed, Arrays) {
  RawGguf g = valid_raw();
  g.kvs.push_back(RawKv{"t.deep", kArray, nested(kMaxArrayDepth), {}});
  EXPECT_EQ(error_of(g), "<no error>");
  g.kvs.back().payload = nested(kMaxArrayDepth + 1);
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.deep': arrays nested deeper than 8 levels");
  g.kvs.back().payload = nested(100000);  // no stack overflow: rejected at depth 9
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.deep': arrays nested deeper than 8 levels");

  // Too long for the file: numeric, string and nested arrays; and an unknown element type.
  g = valid_raw();
  g.kvs.push_back(RawKv{"t.long", kArray, Payload().put<uint32_t>(kU32).put<uint64_t>(1ull << 62), {}});
  std::vector<uint8_t> bytes = g.serialize();
  EXPECT_EQ(error_of(bytes), "bad.gguf: key 't.long': array of 4611686018427387904 u32 elements exceeds the " +
                                 std::to_string(bytes.size() - g.end_of_kvs) + " bytes left in the file");
  g.kvs.back().payload = Payload().put<uint32_t>(kString).put<uint64_t>(~0ull);
  bytes = g.serialize();
  EXPECT_EQ(error_of(bytes), "bad.gguf: key 't.long': array of 18446744073709551615 string elements exceeds the " +
                                 std::to_string(bytes.size() - g.end_of_kvs) + " bytes left in the file");
  g.kvs.back().payload = Payload().put<uint32_t>(kArray).put<uint64_t>(1ull << 40);
  bytes = g.serialize();
  EXPECT_EQ(error_of(bytes), "bad.gguf: key 't.long': array of 1099511627776 array elements exceeds the " +
                                 std::to_string(bytes.size() - g.end_of_kvs) + " bytes left in the file");
  // Many small inner arrays: capped in total, across keys.
  {
    Payload many;
    many.put<uint32_t>(kArray).put<uint64_t>(40000);
    for (int i = 0; i < 40000; ++i) many.put<uint32_t>(kU8).put<uint64_t>(0);
    RawGguf h = valid_raw();
    h.kvs.push_back(RawKv{"t.many1", kArray, many, {}});
    EXPECT_EQ(error_of(h), "<no error>");
    h.kvs.push_back(RawKv{"t.many2", kArray, many, {}});
    EXPECT_EQ(error_of(h), "bad.gguf: key 't.many2': more than 65536 nested arrays in the file");
  }
  g.kvs.back().payload = Payload().put<uint32_t>(77).put<uint64_t>(1);
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.long': unknown array element type 77");
  g.kvs.back().payload = Payload().put<uint32_t>(kBool).put<uint64_t>(2).put<uint8_t>(1).put<uint8_t>(9);
  EXPECT_EQ(error_of(g), "bad.gguf: key 't.long': bool array element 1 is 9 (expected 0 or 1)");
  // A string element whose length runs past the end.
  g.kvs.back().payload = Payload().put<uint32_t>(kString).put<uint64_t>(1).put<uint64_t>(1ull << 50);
  EXPECT_THAT(error_of(g), HasSubstr("bad.gguf: key 't.long' string element 0 length 1125899906842624 exceeds the "));
}

TEST(GgufMalformed, Alignment) {
  RawGguf g = valid_raw();
  const size_t i = kv_index(g, "general.alignment");
  for (uint32_t a : {0u, 13u, 3u, 1u, 4u, 1u << 21}) {
    g.kvs[i].payload = Payload().put<uint32_t>(a);
    EXPECT_EQ(error_of(g), "bad.gguf: general.alignment " + std::to_string(a) +
                               " is invalid (expected a power of two from 8 to 1048576)");
  }
  g.kvs[i].type = kU64;
  g.kvs[i].payload = Payload().put<uint64_t>(1ull << 40);
  EXPECT_EQ(error_of(g), "bad.gguf: general.alignment 1099511627776 is invalid (expected a power of two from 8 to 1048576)");
  g.kvs[i].type = kI32;
  g.kvs[i].payload = Payload().put<int32_t>(-32);
  EXPECT_EQ(error_of(g), "bad.gguf: general.alignment -32 is invalid (expected a power of two from 8 to 1048576)");
  g.kvs[i].type = kString;
  g.kvs[i].payload = Payload().str("32");
  EXPECT_EQ(error_of(g), "bad.gguf: key 'general.alignment' has type string, expected u32");
  // A valid non-default alignment moves the data section.
  g = valid_raw();
  g.kvs[i].payload = Payload().put<uint32_t>(256);
  g.alignment = 256;
  const auto bytes = g.serialize();
  auto f = GgufFile::from_bytes(bytes.data(), bytes.size(), "ok.gguf");
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->data_offset() % 256, 0u);
  EXPECT_EQ(f->data_offset(), g.data_offset);
}

TEST(GgufMalformed, TensorNamesAndDims) {
  RawGguf g = valid_raw();
  g.tensors[0].name = std::string(64, 'x');
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 0 name length 64 exceeds the limit of 63 bytes");
  g.tensors[0].name = std::string(63, 'x');
  EXPECT_EQ(error_of(g), "<no error>");
  g.tensors[0].name = "";
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 0 has an empty name");
  g = valid_raw();
  g.tensors[1].name_len = 1ull << 63;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 1 name length 9223372036854775808 exceeds the limit of 63 bytes");
  g = valid_raw();
  g.tensors[1].name = "a";
  EXPECT_EQ(error_of(g), "bad.gguf: duplicate tensor name 'a'");

  g = valid_raw();
  g.tensors[0].ne = {32, 2, 1, 1, 1};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': n_dims 5 is invalid (expected 1 to 4)");
  g.tensors[0].ne = {};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': n_dims 0 is invalid (expected 1 to 4)");
  g.tensors[0].ne = {32, 2};
  g.tensors[0].n_dims = 0xffffffffu;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': n_dims 4294967295 is invalid (expected 1 to 4)");
  g = valid_raw();
  g.tensors[0].ne = {32, 0};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': dimension 1 is 0 (expected 1 to 2^63-1)");
  g.tensors[0].ne = {1ull << 63, 1};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': dimension 0 is 9223372036854775808 (expected 1 to 2^63-1)");
  g.tensors[0].ne = {1ull << 32, 1ull << 32, 1};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': element count of shape [4294967296, 4294967296, ...] overflows");
  g.tensors[0].ne = {1ull << 31, 1ull << 31, 4};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': element count of shape [2147483648, 2147483648, 4] overflows");
  // Elements fit int64, bytes do not: f32 rows of 2^62 elements.
  g.tensors[0].ne = {1ull << 62};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': byte size of shape [4611686018427387904] in f32 overflows");
  g.tensors[0].ne = {1ull << 40, 1ull << 21, 2};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': byte size of shape [1099511627776, 2097152, 2] in f32 overflows");
}

TEST(GgufMalformed, TensorTypes) {
  RawGguf g = valid_raw();
  g.tensors[0].type = 99;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': unknown tensor type 99");
  g.tensors[0].type = 16;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': tensor type iq2_xxs (16) is not supported");
  g.tensors[0].type = 23;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': tensor type iq4_xs (23) is not supported");
  g.tensors[0].type = 15;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'a': tensor type q8_K (15) is not supported");
  g = valid_raw();
  g.tensors[1].ne = {33, 3};
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'b': row length 33 is not a multiple of the q8_0 block size 32");
}

TEST(GgufMalformed, TensorPlacement) {
  RawGguf g = valid_raw();
  g.tensors[1].offset = 1u << 20;
  EXPECT_EQ(error_of(g),
            "bad.gguf: tensor 'b' (offset 1048576, 102 bytes) extends past the end of the data section (358 bytes)");
  g.tensors[1].offset = ~0ull - 31;  // aligned, but offset + size overflows
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'b': offset 18446744073709551584 + size 102 overflows");
  g.tensors[1].offset = 260;
  EXPECT_EQ(error_of(g), "bad.gguf: tensor 'b': offset 260 is not a multiple of the alignment 32");
  g.tensors[1].offset = 224;
  EXPECT_EQ(error_of(g), "bad.gguf: tensors 'a' and 'b' overlap in the data section");
  g.tensors[1].offset = 0;
  EXPECT_EQ(error_of(g), "bad.gguf: tensors 'a' and 'b' overlap in the data section");
  // Truncated data: one byte short.
  g = valid_raw();
  g.data.pop_back();
  EXPECT_EQ(error_of(g),
            "bad.gguf: tensor 'b' (offset 256, 102 bytes) extends past the end of the data section (357 bytes)");
  // No data section at all.
  g.data.clear();
  std::vector<uint8_t> bytes = g.serialize();
  bytes.resize(g.end_of_infos);
  EXPECT_EQ(error_of(bytes), "bad.gguf: data section at offset " + std::to_string(g.data_offset) +
                                 " starts past the end of the " + std::to_string(g.end_of_infos) + "-byte file");
}

TEST(GgufMalformed, TruncationAtSectionBoundaries) {
  RawGguf g = valid_raw();
  const std::vector<uint8_t> full = g.serialize();
  auto cut = [&](size_t n) { return error_of(std::vector<uint8_t>(full.begin(), full.begin() + n)); };
  EXPECT_EQ(cut(4), "bad.gguf: unexpected end of file reading version at offset 4 (needs 4 bytes, 0 left)");
  EXPECT_EQ(cut(8), "bad.gguf: unexpected end of file reading tensor count at offset 8 (needs 8 bytes, 0 left)");
  EXPECT_EQ(cut(16), "bad.gguf: unexpected end of file reading metadata count at offset 16 (needs 8 bytes, 0 left)");
  EXPECT_EQ(cut(24), "bad.gguf: tensor count 2 is impossible in a 24-byte file");
  EXPECT_EQ(cut(g.end_of_kvs),
            "bad.gguf: unexpected end of file reading tensor 0 name length at offset " + std::to_string(g.end_of_kvs) +
                " (needs 8 bytes, 0 left)");
  EXPECT_EQ(cut(g.end_of_infos), "bad.gguf: data section at offset " + std::to_string(g.data_offset) +
                                     " starts past the end of the " + std::to_string(g.end_of_infos) + "-byte file");
  EXPECT_EQ(cut(g.data_offset),
            "bad.gguf: tensor 'a' (offset 0, 256 bytes) extends past the end of the data section (0 bytes)");
  EXPECT_EQ(cut(g.data_offset + 256),
            "bad.gguf: tensor 'b' (offset 256, 102 bytes) extends past the end of the data section (256 bytes)");
  // Every shorter prefix fails cleanly.
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_NE(cut(n), "<no error>") << "prefix of " << n << " bytes";
  }
}

// Every single-byte corruption of the header and metadata either parses or fails with an Error
// naming the file (never crashes; ASan checks the reads).
TEST(GgufMalformed, ByteCorruptionNeverCrashes) {
  const std::vector<uint8_t> full = valid_raw().serialize();
  RawGguf g = valid_raw();
  g.serialize();
  int n_errors = 0;
  for (size_t pos = 0; pos < g.data_offset; ++pos) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), uint8_t(full[pos] ^ 0x80), uint8_t(full[pos] + 1)}) {
      std::vector<uint8_t> b = full;
      b[pos] = v;
      const std::string e = error_of(b);
      if (e != "<no error>") {
        ++n_errors;
        EXPECT_EQ(e.rfind("bad.gguf: ", 0), 0u) << e;
      }
    }
  }
  EXPECT_GT(n_errors, 100);
}

TEST(GgufMalformed, TinyFileDoesNotAllocateHugely) {
  // A 100-byte file claiming a 2^40-element string array and a 2^40-element nested array.
  RawGguf g;
  g.kvs.push_back(RawKv{"s", kArray, Payload().put<uint32_t>(kString).put<uint64_t>(1ull << 40), {}});
  EXPECT_THAT(error_of(g), HasSubstr("array of 1099511627776 string elements exceeds the"));
  RawGguf h;
  h.kvs.push_back(RawKv{"s", kArray, Payload().put<uint32_t>(kArray).put<uint64_t>(4), {}});
  // (the 15 bytes are the padding RawGguf adds before the empty data section)
  EXPECT_THAT(error_of(h), HasSubstr("array of 4 array elements exceeds the 15 bytes left in the file"));
}

}  // namespace
}  // namespace greta::gguf
