#include "greta/gguf/gguf_info.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace greta::gguf {

namespace {

constexpr size_t kMaxStringChars = 80;

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one.
size_t utf8_len(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// A quoted, escaped string: control characters and bytes that are not valid UTF-8 as \xNN;
// cut after kMaxStringChars bytes (at a character boundary) with the full length appended.
std::string quote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size() && i < kMaxStringChars) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_len(s, i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f || n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  out += '"';
  if (i < s.size()) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string float_text(double v, bool is_f32) {
  char buf[64];
  const auto r = is_f32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                        : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string array_elem_text(const ArrayValue& a, uint64_t i, int max_elems) {
  switch (a.elem_type) {
    case ValueType::STRING: return quote(a.strings[i]);
    case ValueType::ARRAY: return value_to_text(a.arrays[i], max_elems);
    case ValueType::F32: return float_text(a.get_float(i), true);
    case ValueType::F64: return float_text(a.get_float(i), false);
    case ValueType::BOOL: return a.get_int(i) ? "true" : "false";
    case ValueType::U64: {
      uint64_t v;
      std::memcpy(&v, a.data + 8 * i, 8);
      return std::to_string(v);
    }
    default: return std::to_string(a.get_int(i));
  }
}

}  // namespace

std::string value_type_text(const Value& v) {
  if (v.type != ValueType::ARRAY) return value_type_name(v.type);
  const ArrayValue& a = *v.arr;
  std::string elem = value_type_name(a.elem_type);
  if (a.elem_type == ValueType::ARRAY && !a.arrays.empty()) elem = value_type_text(a.arrays[0]);
  return "array[" + elem + "; " + std::to_string(a.size) + "]";
}

std::string value_to_text(const Value& v, int max_elems) {
  switch (v.type) {
    case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64: return std::to_string(v.u);
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64: return std::to_string(v.i);
    case ValueType::F32: return float_text(v.f, true);
    case ValueType::F64: return float_text(v.f, false);
    case ValueType::BOOL: return v.u ? "true" : "false";
    case ValueType::STRING: return quote(v.str);
    case ValueType::ARRAY: {
      const ArrayValue& a = *v.arr;
      std::string out = "[";
      const uint64_t n = std::min<uint64_t>(a.size, static_cast<uint64_t>(std::max(max_elems, 0)));
      for (uint64_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        out += array_elem_text(a, i, max_elems);
      }
      if (n < a.size) out += n ? ", ..." : "...";
      return out + "]";
    }
  }
  return "?";
}

void print_info(const GgufFile& f, std::ostream& out, int max_elems) {
  out << "file: " << f.path() << "\n";
  out << "version: " << f.version() << "\n";
  out << "file size: " << f.file_size() << " bytes\n";
  out << "alignment: " << f.alignment() << "\n";
  out << "data offset: " << f.data_offset() << "\n";
  out << "metadata: " << f.metadata().size() << " keys\n";
  for (const KeyValue& kv : f.metadata()) {
    out << "  " << kv.key << ": " << value_type_text(kv.value) << " = " << value_to_text(kv.value, max_elems) << "\n";
  }
  out << "tensors: " << f.tensors().size() << "\n";
  if (f.tensors().empty()) return;
  size_t name_w = 4, shape_w = 5;
  std::vector<std::string> shapes;
  for (const TensorInfo& t : f.tensors()) {
    name_w = std::max(name_w, t.name.size());
    shapes.push_back(t.shape_string());
    shape_w = std::max(shape_w, shapes.back().size());
  }
  char line[512];
  std::snprintf(line, sizeof line, "  %5s  %-*s  %-5s  %-*s  %12s  %12s\n", "#", int(name_w), "name", "type", int(shape_w),
                "shape", "offset", "bytes");
  out << line;
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    std::snprintf(line, sizeof line, "  %5zu  %-*.*s  %-5s  %-*s  %12llu  %12llu\n", i, int(name_w), int(t.name.size()),
                  t.name.data(), tensor_type_name(t.type), int(shape_w), shapes[i].c_str(),
                  static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.n_bytes));
    out << line;
  }
}

}  // namespace greta::gguf
