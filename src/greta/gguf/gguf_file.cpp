#include "greta/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "greta/core/checked_math.h"
#include "greta/core/error.h"

static_assert(std::endian::native == std::endian::little, "greta reads GGUF on little-endian hosts only");

namespace greta::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian

// Smallest encodings, used to bound counts by the bytes left before anything is allocated.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;               // key len, 1-byte key, type, u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name len, name, n_dims, ne0, type, offset

// Element size of a scalar value type; 0 for STRING/ARRAY; -1 if the id is unknown.
int value_type_size(uint32_t t) {
  switch (t) {
    case 0: case 1: case 7: return 1;
    case 2: case 3: return 2;
    case 4: case 5: case 6: return 4;
    case 10: case 11: case 12: return 8;
    case 8: case 9: return 0;
    default: return -1;
  }
}

// ggml type ids greta does not implement, so errors can name them.
const char* ggml_type_name_or_null(uint32_t id) {
  switch (id) {
    case 4: return "q4_2";
    case 5: return "q4_3";
    case 16: return "iq2_xxs";
    case 17: return "iq2_xs";
    case 18: return "iq3_xxs";
    case 19: return "iq1_s";
    case 20: return "iq4_nl";
    case 21: return "iq3_s";
    case 22: return "iq2_s";
    case 23: return "iq4_xs";
    case 24: return "i8";
    case 25: return "i16";
    case 26: return "i32";
    case 27: return "i64";
    case 28: return "f64";
    case 29: return "iq1_m";
    case 31: return "q4_0_4_4";
    case 32: return "q4_0_4_8";
    case 33: return "q4_0_8_8";
    case 34: return "tq1_0";
    case 35: return "tq2_0";
    case 36: return "iq4_nl_4_4";
    case 37: return "iq4_nl_4_8";
    case 38: return "iq4_nl_8_8";
    case 39: return "mxfp4";
    default: return nullptr;
  }
}

// A bounds-checked cursor over the file image. Every read checks the remaining bytes first.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, const std::string& name) : base_(base), size_(size), name_(name) {}

  [[noreturn]] void bad(const std::string& msg) const { fail(name_ + ": " + msg); }

  uint64_t pos() const { return pos_; }
  // Inner arrays parsed so far: each costs far more memory than its 12 encoded bytes, so their
  // total is capped separately.
  uint64_t nested_arrays = 0;
  uint64_t remaining() const { return size_ - pos_; }

  // Ensures n bytes are available for `what`.
  void need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      bad("unexpected end of file reading " + what + " at offset " + std::to_string(pos_) + " (needs " +
          std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left)");
    }
  }
  const uint8_t* take(uint64_t n, const std::string& what) {
    need(n, what);
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }
  // The u64 at the cursor without consuming it. PRECONDITIONS: remaining() >= 8.
  uint64_t peek_u64() const {
    uint64_t v;
    std::memcpy(&v, base_ + pos_, sizeof v);
    return v;
  }
  template <typename T>
  T read(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  // A length-prefixed string; `max_len` bounds it (0: only by the file).
  std::string_view read_string(const std::string& what, uint64_t max_len) {
    const uint64_t len = read<uint64_t>(what + " length");
    if (max_len != 0 && len > max_len) {
      bad(what + " length " + std::to_string(len) + " exceeds the limit of " + std::to_string(max_len) + " bytes");
    }
    if (len > remaining()) {
      bad(what + " length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
          " bytes left in the file at offset " + std::to_string(pos_));
    }
    const uint8_t* p = take(len, what);
    return std::string_view(reinterpret_cast<const char*>(p), len);
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& name_;
};

// Counts are bounded by the file size, but a claimed count is not yet content: reserve at most a
// modest amount up front and let real entries grow the vectors.
size_t reserve_hint(uint64_t n) { return static_cast<size_t>(std::min<uint64_t>(n, uint64_t(1) << 16)); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Value parse_value(Cursor& c, uint32_t type, const std::string& ctx, int depth);

std::shared_ptr<ArrayValue> parse_array(Cursor& c, const std::string& ctx, int depth) {
  if (depth > kMaxArrayDepth) {
    c.bad(ctx + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
  }
  const uint32_t elem = c.read<uint32_t>(ctx + " array element type");
  const int esize = value_type_size(elem);
  if (esize < 0) c.bad(ctx + ": unknown array element type " + std::to_string(elem));
  const uint64_t n = c.read<uint64_t>(ctx + " array length");
  auto arr = std::make_shared<ArrayValue>();
  arr->elem_type = static_cast<ValueType>(elem);
  arr->size = n;
  // Minimum encoded bytes per element: its size, 8 for a string length, 12 for a nested array header.
  const uint64_t min_elem = esize > 0 ? uint64_t(esize) : (elem == uint32_t(ValueType::STRING) ? 8 : 12);
  uint64_t min_bytes = 0;
  if (!checked_mul(n, min_elem, &min_bytes) || min_bytes > c.remaining()) {
    c.bad(ctx + ": array of " + std::to_string(n) + " " + value_type_name(arr->elem_type) +
          " elements exceeds the " + std::to_string(c.remaining()) + " bytes left in the file");
  }
  if (esize > 0) {
    arr->data = c.take(min_bytes, ctx + " array data");
    if (arr->elem_type == ValueType::BOOL) {
      for (uint64_t i = 0; i < n; ++i) {
        if (arr->data[i] > 1) {
          c.bad(ctx + ": bool array element " + std::to_string(i) + " is " + std::to_string(arr->data[i]) +
                " (expected 0 or 1)");
        }
      }
    }
  } else if (arr->elem_type == ValueType::STRING) {
    // No per-element allocation or message building: the context string is made only on error.
    for (uint64_t i = 0; i < n; ++i) {
      if (c.remaining() < 8 || c.peek_u64() > c.remaining() - 8) {
        (void)c.read_string(ctx + " string element " + std::to_string(i), 0);  // throws the precise error
      }
      const std::string_view sv = c.read_string(std::string(), 0);
      arr->strings.append(reinterpret_cast<const uint8_t*>(sv.data()) - 8);
    }
  } else {
    if (n > kMaxNestedArrays - c.nested_arrays) {
      c.bad(ctx + ": more than " + std::to_string(kMaxNestedArrays) + " nested arrays in the file");
    }
    c.nested_arrays += n;
    arr->arrays.reserve(reserve_hint(n));
    for (uint64_t i = 0; i < n; ++i) {
      Value v;
      v.type = ValueType::ARRAY;
      v.arr = parse_array(c, ctx, depth + 1);
      arr->arrays.push_back(std::move(v));
    }
  }
  return arr;
}

Value parse_value(Cursor& c, uint32_t type, const std::string& ctx, int depth) {
  Value v;
  if (value_type_size(type) < 0) c.bad(ctx + ": unknown value type " + std::to_string(type));
  v.type = static_cast<ValueType>(type);
  const std::string what = ctx + " value";
  switch (v.type) {
    case ValueType::U8: v.u = c.read<uint8_t>(what); break;
    case ValueType::I8: v.i = c.read<int8_t>(what); break;
    case ValueType::U16: v.u = c.read<uint16_t>(what); break;
    case ValueType::I16: v.i = c.read<int16_t>(what); break;
    case ValueType::U32: v.u = c.read<uint32_t>(what); break;
    case ValueType::I32: v.i = c.read<int32_t>(what); break;
    case ValueType::U64: v.u = c.read<uint64_t>(what); break;
    case ValueType::I64: v.i = c.read<int64_t>(what); break;
    case ValueType::F32: v.f = c.read<float>(what); break;
    case ValueType::F64: v.f = c.read<double>(what); break;
    case ValueType::BOOL: {
      v.u = c.read<uint8_t>(what);
      if (v.u > 1) c.bad(ctx + ": bool value " + std::to_string(v.u) + " (expected 0 or 1)");
      break;
    }
    case ValueType::STRING: v.str = c.read_string(ctx + " string", 0); break;
    case ValueType::ARRAY: v.arr = parse_array(c, ctx, depth + 1); break;
  }
  return v;
}

bool is_int_type(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64: return true;
    default: return false;
  }
}
bool is_unsigned_type(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}

std::string value_to_string(const Value& v) {
  if (is_unsigned_type(v.type)) return std::to_string(v.u);
  return std::to_string(v.i);
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

int64_t ArrayValue::get_int(uint64_t i) const {
  GRETA_ASSERT(i < size && data != nullptr);
  const uint8_t* p = data;
  switch (elem_type) {
    case ValueType::U8: case ValueType::BOOL: return p[i];
    case ValueType::I8: return static_cast<int8_t>(p[i]);
    case ValueType::U16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); return v; }
    case ValueType::I16: { int16_t v; std::memcpy(&v, p + 2 * i, 2); return v; }
    case ValueType::U32: { uint32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ValueType::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case ValueType::U64: { uint64_t v; std::memcpy(&v, p + 8 * i, 8); return static_cast<int64_t>(v); }
    case ValueType::I64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); return v; }
    default: GRETA_ASSERT_MSG(false, "get_int on a non-integer array");
  }
  return 0;
}

double ArrayValue::get_float(uint64_t i) const {
  GRETA_ASSERT(i < size && data != nullptr);
  switch (elem_type) {
    case ValueType::F32: { float v; std::memcpy(&v, data + 4 * i, 4); return v; }
    case ValueType::F64: { double v; std::memcpy(&v, data + 8 * i, 8); return v; }
    case ValueType::U64: { uint64_t v; std::memcpy(&v, data + 8 * i, 8); return static_cast<double>(v); }
    default: return static_cast<double>(get_int(i));
  }
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) {
    if (d) s += ", ";
    s += std::to_string(ne[d]);
  }
  return s + "]";
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) munmap(mapping_, size_);
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path + ": not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail(path + ": cannot mmap: " + std::strerror(err));
    }
    f->mapping_ = m;
    f->base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::from_bytes(const uint8_t* bytes, size_t size, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->owned_.assign(bytes, bytes + size);
  f->base_ = f->owned_.data();
  f->size_ = size;
  f->parse();
  return f;
}

void GgufFile::parse() {
  Cursor c(base_, size_, path_);
  if (size_ < 4) c.bad("file is too small to be GGUF (" + std::to_string(size_) + " bytes)");
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    c.bad(std::string("not a GGUF file (magic ") + hex + ", expected 0x46554747 'GGUF')");
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) c.bad("GGUF version 1 is unsupported (expected version 2 or 3)");
  if (version_ != 2 && version_ != 3) {
    const uint32_t swapped = __builtin_bswap32(version_);
    if (swapped == 2 || swapped == 3) c.bad("big-endian GGUF files are unsupported");
    c.bad("GGUF version " + std::to_string(version_) + " is unsupported (expected version 2 or 3)");
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Bound both counts by the bytes left: each entry takes at least a fixed number of bytes.
  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    c.bad("tensor count " + std::to_string(n_tensors) + " is impossible in a " + std::to_string(size_) + "-byte file");
  }
  if (n_kv > c.remaining() / kMinKvBytes) {
    c.bad("metadata count " + std::to_string(n_kv) + " is impossible in a " + std::to_string(size_) + "-byte file");
  }

  kv_.reserve(reserve_hint(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    KeyValue kv;
    kv.key = c.read_string("metadata key " + std::to_string(k), kMaxKeyBytes);
    if (kv.key.empty()) c.bad("metadata key " + std::to_string(k) + " is empty");
    const std::string ctx = "key " + quoted(kv.key);
    const uint32_t type = c.read<uint32_t>(ctx + " value type");
    kv.value = parse_value(c, type, ctx, 0);
    if (!kv_index_.emplace(kv.key, kv_.size()).second) c.bad("duplicate key " + quoted(kv.key));
    kv_.push_back(std::move(kv));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* a = find("general.alignment")) {
    if (!is_int_type(a->type)) {
      c.bad(std::string("key 'general.alignment' has type ") + value_type_name(a->type) + ", expected u32");
    }
    const bool negative = !is_unsigned_type(a->type) && a->i < 0;
    const uint64_t al = is_unsigned_type(a->type) ? a->u : static_cast<uint64_t>(a->i);
    if (negative || al < kMinAlignment || (al & (al - 1)) != 0 || al > kMaxAlignment) {
      c.bad("general.alignment " + value_to_string(*a) + " is invalid (expected a power of two from 8 to " +
            std::to_string(kMaxAlignment) + ")");
    }
    alignment_ = al;
  }

  tensors_.reserve(reserve_hint(n_tensors));
  for (uint64_t t = 0; t < n_tensors; ++t) {
    TensorInfo ti;
    ti.name = c.read_string("tensor " + std::to_string(t) + " name", kMaxTensorNameBytes);
    if (ti.name.empty()) c.bad("tensor " + std::to_string(t) + " has an empty name");
    const std::string ctx = "tensor " + quoted(ti.name);
    const uint32_t n_dims = c.read<uint32_t>(ctx + " n_dims");
    if (n_dims < 1 || n_dims > uint32_t(kMaxDims)) {
      c.bad(ctx + ": n_dims " + std::to_string(n_dims) + " is invalid (expected 1 to " + std::to_string(kMaxDims) + ")");
    }
    ti.n_dims = static_cast<int>(n_dims);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>(ctx + " dimension " + std::to_string(d));
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max())) {
        c.bad(ctx + ": dimension " + std::to_string(d) + " is " + std::to_string(ne) + " (expected 1 to 2^63-1)");
      }
      ti.ne[d] = static_cast<int64_t>(ne);
      if (!checked_mul(n_elements, ne, &n_elements) || n_elements > uint64_t(std::numeric_limits<int64_t>::max())) {
        std::string shape = "[";
        for (uint32_t e = 0; e <= d; ++e) shape += (e ? ", " : "") + std::to_string(ti.ne[e]);
        c.bad(ctx + ": element count of shape " + shape + (d + 1 < n_dims ? ", ...]" : "]") + " overflows");
      }
    }
    const uint32_t raw_type = c.read<uint32_t>(ctx + " type");
    const auto info = tensor_type_info(raw_type);
    if (!info) {
      const char* nm = ggml_type_name_or_null(raw_type);
      if (nm != nullptr) c.bad(ctx + ": tensor type " + nm + " (" + std::to_string(raw_type) + ") is not supported");
      c.bad(ctx + ": unknown tensor type " + std::to_string(raw_type));
    }
    if (!info->is_storage_type) {
      c.bad(ctx + ": tensor type " + info->name + " (" + std::to_string(raw_type) + ") is not supported");
    }
    ti.type = info->type;
    if (ti.ne[0] % info->block_size != 0) {
      c.bad(ctx + ": row length " + std::to_string(ti.ne[0]) + " is not a multiple of the " + info->name +
            " block size " + std::to_string(info->block_size));
    }
    uint64_t row_bytes = 0;
    const uint64_t n_rows = n_elements / uint64_t(ti.ne[0]);
    if (!checked_mul(uint64_t(ti.ne[0]) / uint64_t(info->block_size), uint64_t(info->type_size), &row_bytes) ||
        !checked_mul(row_bytes, n_rows, &ti.n_bytes)) {
      c.bad(ctx + ": byte size of shape " + ti.shape_string() + " in " + info->name + " overflows");
    }
    ti.offset = c.read<uint64_t>(ctx + " offset");
    if (ti.offset % alignment_ != 0) {
      c.bad(ctx + ": offset " + std::to_string(ti.offset) + " is not a multiple of the alignment " +
            std::to_string(alignment_));
    }
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) c.bad("duplicate tensor name " + quoted(ti.name));
    tensors_.push_back(ti);
  }

  // The data section starts at the next multiple of the alignment after the tensor infos.
  const uint64_t end_of_infos = c.pos();
  const uint64_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
  data_offset_ = end_of_infos + pad;  // cannot overflow: end_of_infos <= size_ and pad < 2^20
  if (tensors_.empty()) return;
  if (data_offset_ > size_) {
    c.bad("data section at offset " + std::to_string(data_offset_) + " starts past the end of the " +
          std::to_string(size_) + "-byte file");
  }
  const uint64_t data_size = size_ - data_offset_;
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (TensorInfo& ti : tensors_) {
    uint64_t end = 0;
    if (!checked_add(ti.offset, ti.n_bytes, &end)) {
      c.bad("tensor " + quoted(ti.name) + ": offset " + std::to_string(ti.offset) + " + size " +
            std::to_string(ti.n_bytes) + " overflows");
    }
    if (end > data_size) {
      c.bad("tensor " + quoted(ti.name) + " (offset " + std::to_string(ti.offset) + ", " + std::to_string(ti.n_bytes) +
            " bytes) extends past the end of the data section (" + std::to_string(data_size) + " bytes)");
    }
    ti.data = base_ + data_offset_ + ti.offset;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& cur = tensors_[order[k]];
    if (prev.offset + prev.n_bytes > cur.offset) {
      c.bad("tensors " + quoted(prev.name) + " and " + quoted(cur.name) + " overlap in the data section");
    }
  }
}

const Value* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void key_error(const std::string& path, std::string_view key, const std::string& msg) {
  fail(path + ": key " + quoted(key) + " " + msg);
}

// The integer under key, checked to lie in [lo, hi]; `want` names the requested type.
template <typename T>
T get_int_checked(const std::string& path, std::string_view key, const Value& v, const char* want) {
  if (!is_int_type(v.type)) key_error(path, key, std::string("has type ") + value_type_name(v.type) + ", expected " + want);
  if (is_unsigned_type(v.type)) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      key_error(path, key, "value " + std::to_string(v.u) + " out of range for " + want);
    }
    return static_cast<T>(v.u);
  }
  if (v.i < 0 && std::numeric_limits<T>::min() == 0) {
    key_error(path, key, "value " + std::to_string(v.i) + " out of range for " + want);
  }
  if (v.i > 0 && static_cast<uint64_t>(v.i) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
    key_error(path, key, "value " + std::to_string(v.i) + " out of range for " + want);
  }
  return static_cast<T>(v.i);
}

}  // namespace

uint32_t GgufFile::get_u32(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  return get_int_checked<uint32_t>(path_, key, *v, "u32");
}

uint32_t GgufFile::get_u32_or(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

uint64_t GgufFile::get_u64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  return get_int_checked<uint64_t>(path_, key, *v, "u64");
}

int64_t GgufFile::get_i64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  return get_int_checked<int64_t>(path_, key, *v, "i64");
}

float GgufFile::get_f32(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  if (v->type != ValueType::F32 && v->type != ValueType::F64) {
    key_error(path_, key, std::string("has type ") + value_type_name(v->type) + ", expected f32");
  }
  return static_cast<float>(v->f);
}

float GgufFile::get_f32_or(std::string_view key, float fallback) const {
  return has(key) ? get_f32(key) : fallback;
}

bool GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  if (v->type != ValueType::BOOL) key_error(path_, key, std::string("has type ") + value_type_name(v->type) + ", expected bool");
  return v->u != 0;
}

bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

std::string_view GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) key_error(path_, key, "missing");
  if (v->type != ValueType::STRING) {
    key_error(path_, key, std::string("has type ") + value_type_name(v->type) + ", expected string");
  }
  return v->str;
}

std::string_view GgufFile::get_string_or(std::string_view key, std::string_view fallback) const {
  return has(key) ? get_string(key) : fallback;
}

const ArrayValue& GgufFile::get_array(std::string_view key, ValueType expected_elem) const {
  const ArrayValue* a = find_array(key, expected_elem);
  if (a == nullptr) key_error(path_, key, "missing");
  return *a;
}

const ArrayValue* GgufFile::find_array(std::string_view key, ValueType expected_elem) const {
  const Value* v = find(key);
  if (v == nullptr) return nullptr;
  if (v->type != ValueType::ARRAY) {
    key_error(path_, key, std::string("has type ") + value_type_name(v->type) + ", expected array of " +
                              value_type_name(expected_elem));
  }
  if (v->arr->elem_type != expected_elem) {
    key_error(path_, key, std::string("has type array of ") + value_type_name(v->arr->elem_type) +
                              ", expected array of " + value_type_name(expected_elem));
  }
  return v->arr.get();
}

}  // namespace greta::gguf

namespace greta::gguf {

namespace {
uint64_t prefix_len(const uint8_t* p) {
  uint64_t len;
  std::memcpy(&len, p, sizeof len);
  return len;
}
}  // namespace

void StringList::append(const uint8_t* prefix) {
  if (n_ == 0) first_ = prefix;
  if (n_ % kStride == 0) checkpoints_.push_back(static_cast<uint64_t>(prefix - first_));
  ++n_;
}

std::string_view StringList::operator[](uint64_t i) const {
  GRETA_ASSERT(i < n_);
  const uint8_t* p = first_ + checkpoints_[i / kStride];
  for (uint64_t k = i % kStride; k > 0; --k) p += 8 + prefix_len(p);
  return std::string_view(reinterpret_cast<const char*>(p + 8), prefix_len(p));
}

std::string_view StringList::iterator::operator*() const {
  return std::string_view(reinterpret_cast<const char*>(p_ + 8), prefix_len(p_));
}

StringList::iterator& StringList::iterator::operator++() {
  p_ += 8 + prefix_len(p_);
  ++i_;
  return *this;
}

StringList::iterator StringList::begin() const {
  iterator it;
  it.p_ = first_;
  it.i_ = 0;
  return it;
}

StringList::iterator StringList::end() const {
  iterator it;
  it.i_ = n_;
  return it;
}

bool StringList::operator==(const StringList& o) const {
  if (n_ != o.n_) return false;
  auto a = begin();
  auto b = o.begin();
  for (uint64_t i = 0; i < n_; ++i, ++a, ++b) {
    if (*a != *b) return false;
  }
  return true;
}

}  // namespace greta::gguf
