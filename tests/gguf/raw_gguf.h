#pragma once
// A field-by-field GGUF image for building malformed files in tests: every count, length, type
// and offset can be overridden, unlike GgufWriter, which refuses to write invalid files.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace greta::gguf::test_util {

struct Payload {
  std::vector<uint8_t> b;
  template <typename T>
  Payload& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Payload& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Payload& raw(const Payload& o) {
    b.insert(b.end(), o.b.begin(), o.b.end());
    return *this;
  }
};

struct RawKv {
  std::string key;
  uint32_t type = 0;
  Payload payload;
  std::optional<uint64_t> key_len;  // overrides the written key length
};

struct RawTensor {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
  std::optional<uint32_t> n_dims;    // overrides ne.size()
  std::optional<uint64_t> name_len;  // overrides the written name length
};

struct RawGguf {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors;  // overrides tensors.size()
  std::optional<uint64_t> n_kv;       // overrides kvs.size()
  std::vector<RawKv> kvs;
  std::vector<RawTensor> tensors;
  uint64_t alignment = 32;  // used for the padding before the data section
  std::vector<uint8_t> data;

  // Offsets recorded by serialize().
  mutable uint64_t end_of_header = 0, end_of_kvs = 0, end_of_infos = 0, data_offset = 0;

  std::vector<uint8_t> serialize() const {
    Payload p;
    p.put(magic).put(version);
    p.put<uint64_t>(n_tensors.value_or(tensors.size()));
    p.put<uint64_t>(n_kv.value_or(kvs.size()));
    end_of_header = p.b.size();
    for (const RawKv& kv : kvs) {
      p.put<uint64_t>(kv.key_len.value_or(kv.key.size()));
      p.b.insert(p.b.end(), kv.key.begin(), kv.key.end());
      p.put<uint32_t>(kv.type);
      p.raw(kv.payload);
    }
    end_of_kvs = p.b.size();
    for (const RawTensor& t : tensors) {
      p.put<uint64_t>(t.name_len.value_or(t.name.size()));
      p.b.insert(p.b.end(), t.name.begin(), t.name.end());
      p.put<uint32_t>(t.n_dims.value_or(static_cast<uint32_t>(t.ne.size())));
      for (uint64_t d : t.ne) p.put<uint64_t>(d);
      p.put<uint32_t>(t.type);
      p.put<uint64_t>(t.offset);
    }
    end_of_infos = p.b.size();
    while (p.b.size() % alignment != 0) p.b.push_back(0);
    data_offset = p.b.size();
    p.b.insert(p.b.end(), data.begin(), data.end());
    return p.b;
  }
};

// Value type ids (ValueType) as raw numbers, so tests can write invalid ones too.
enum : uint32_t { kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64 };

inline RawKv kv_u32(const std::string& key, uint32_t v) { RawKv kv{key, kU32, {}, {}}; kv.payload.put(v); return kv; }
inline RawKv kv_string(const std::string& key, const std::string& v) { RawKv kv{key, kString, {}, {}}; kv.payload.str(v); return kv; }

// A small valid file: every scalar type, arrays (numeric, string, nested), and two tensors:
// 'a' f32 [32, 2] at offset 0 (256 bytes) and 'b' q8_0 [32, 3] at offset 256 (102 bytes).
inline RawGguf valid_raw() {
  RawGguf g;
  g.kvs.push_back(kv_string("general.architecture", "llama"));
  g.kvs.push_back(kv_u32("general.alignment", 32));
  { RawKv kv{"t.u8", kU8, {}, {}}; kv.payload.put<uint8_t>(200); g.kvs.push_back(kv); }
  { RawKv kv{"t.i8", kI8, {}, {}}; kv.payload.put<int8_t>(-100); g.kvs.push_back(kv); }
  { RawKv kv{"t.u16", kU16, {}, {}}; kv.payload.put<uint16_t>(60000); g.kvs.push_back(kv); }
  { RawKv kv{"t.i16", kI16, {}, {}}; kv.payload.put<int16_t>(-30000); g.kvs.push_back(kv); }
  { RawKv kv{"t.i32", kI32, {}, {}}; kv.payload.put<int32_t>(-5); g.kvs.push_back(kv); }
  { RawKv kv{"t.f32", kF32, {}, {}}; kv.payload.put<float>(1.5f); g.kvs.push_back(kv); }
  { RawKv kv{"t.bool", kBool, {}, {}}; kv.payload.put<uint8_t>(1); g.kvs.push_back(kv); }
  { RawKv kv{"t.u64", kU64, {}, {}}; kv.payload.put<uint64_t>(1ull << 40); g.kvs.push_back(kv); }
  { RawKv kv{"t.i64", kI64, {}, {}}; kv.payload.put<int64_t>(-(1ll << 40)); g.kvs.push_back(kv); }
  { RawKv kv{"t.f64", kF64, {}, {}}; kv.payload.put<double>(0.25); g.kvs.push_back(kv); }
  {
    RawKv kv{"t.arr_i32", kArray, {}, {}};
    kv.payload.put<uint32_t>(kI32).put<uint64_t>(3).put<int32_t>(7).put<int32_t>(-8).put<int32_t>(9);
    g.kvs.push_back(kv);
  }
  {
    RawKv kv{"t.arr_str", kArray, {}, {}};
    kv.payload.put<uint32_t>(kString).put<uint64_t>(2).str("hello").str("");
    g.kvs.push_back(kv);
  }
  {
    // [[1, 2], []] as an array of u16 arrays.
    RawKv kv{"t.arr_arr", kArray, {}, {}};
    kv.payload.put<uint32_t>(kArray).put<uint64_t>(2);
    kv.payload.put<uint32_t>(kU16).put<uint64_t>(2).put<uint16_t>(1).put<uint16_t>(2);
    kv.payload.put<uint32_t>(kU16).put<uint64_t>(0);
    g.kvs.push_back(kv);
  }
  g.tensors.push_back(RawTensor{"a", {32, 2}, 0, 0, {}, {}});
  g.tensors.push_back(RawTensor{"b", {32, 3}, 8, 256, {}, {}});
  g.data.resize(256 + 102);
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = static_cast<uint8_t>(i * 7 + 1);
  // q8_0 scales (f16 at the start of each 34-byte block) set to 1.0 so the data is finite.
  for (int blk = 0; blk < 3; ++blk) {
    g.data[256 + blk * 34] = 0x00;
    g.data[256 + blk * 34 + 1] = 0x3c;
  }
  return g;
}

}  // namespace greta::gguf::test_util
