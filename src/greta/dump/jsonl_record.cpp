#include "greta/dump/jsonl_record.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace greta::dump {

namespace {

constexpr int kMaxDepth = 64;

struct Cursor {
  const char* begin;
  const char* p;
  const char* end;
  std::string err;

  size_t column() const { return static_cast<size_t>(p - begin) + 1; }
  bool fail(const std::string& what) {
    if (err.empty()) err = "column " + std::to_string(column()) + ": " + what;
    return false;
  }
  void ws() {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
  }
  bool expect(char c) {
    ws();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return fail(std::string("expected '") + c + "'" + found());
  }
  std::string found() const {
    if (p >= end) return ", found end of line";
    return std::string(", found '") + *p + "'";
  }
};

// What a JSON value starting at c.p is, for type errors.
const char* kind_at(const Cursor& c) {
  if (c.p >= c.end) return "missing";
  switch (*c.p) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default:
      if (*c.p == '-' || std::isdigit(static_cast<unsigned char>(*c.p))) return "a number";
      return "not a JSON value";
  }
}

// A JSON string; its raw content (escapes left as written) goes to *raw when non-null.
bool parse_string(Cursor& c, std::string_view* raw) {
  if (c.p >= c.end || *c.p != '"') return c.fail("expected a string" + c.found());
  const char* start = ++c.p;
  while (c.p < c.end) {
    unsigned char ch = static_cast<unsigned char>(*c.p);
    if (ch == '"') {
      if (raw) *raw = std::string_view(start, static_cast<size_t>(c.p - start));
      ++c.p;
      return true;
    }
    if (ch < 0x20) return c.fail("control character in a string");
    if (ch == '\\') {
      ++c.p;
      if (c.p >= c.end) break;
      char e = *c.p;
      if (e == 'u') {
        for (int i = 1; i <= 4; ++i) {
          if (c.p + i >= c.end || !std::isxdigit(static_cast<unsigned char>(c.p[i]))) {
            return c.fail("bad \\u escape in a string");
          }
        }
        c.p += 4;
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return c.fail("bad escape in a string");
      }
    }
    ++c.p;
  }
  return c.fail("unterminated string");
}

// The extent of a JSON number at c.p per the JSON grammar (no '+', no leading zeros, no inf/nan).
bool scan_number(Cursor& c, const char** num_end, bool* is_integer) {
  const char* q = c.p;
  *is_integer = true;
  if (q < c.end && *q == '-') ++q;
  if (q >= c.end || !std::isdigit(static_cast<unsigned char>(*q))) return c.fail("invalid number");
  if (*q == '0') {
    ++q;
  } else {
    while (q < c.end && std::isdigit(static_cast<unsigned char>(*q))) ++q;
  }
  if (q < c.end && *q == '.') {
    *is_integer = false;
    ++q;
    if (q >= c.end || !std::isdigit(static_cast<unsigned char>(*q))) return c.fail("invalid number");
    while (q < c.end && std::isdigit(static_cast<unsigned char>(*q))) ++q;
  }
  if (q < c.end && (*q == 'e' || *q == 'E')) {
    *is_integer = false;
    ++q;
    if (q < c.end && (*q == '+' || *q == '-')) ++q;
    if (q >= c.end || !std::isdigit(static_cast<unsigned char>(*q))) return c.fail("invalid number");
    while (q < c.end && std::isdigit(static_cast<unsigned char>(*q))) ++q;
  }
  *num_end = q;
  return true;
}

bool parse_literal(Cursor& c, std::string_view lit) {
  if (static_cast<size_t>(c.end - c.p) >= lit.size() && std::string_view(c.p, lit.size()) == lit) {
    c.p += lit.size();
    return true;
  }
  return c.fail("invalid JSON value");
}

bool skip_value(Cursor& c, int depth) {
  if (depth > kMaxDepth) return c.fail("nesting too deep");
  c.ws();
  if (c.p >= c.end) return c.fail("expected a value, found end of line");
  switch (*c.p) {
    case '"': return parse_string(c, nullptr);
    case 't': return parse_literal(c, "true");
    case 'f': return parse_literal(c, "false");
    case 'n': return parse_literal(c, "null");
    case '[': {
      ++c.p;
      c.ws();
      if (c.p < c.end && *c.p == ']') {
        ++c.p;
        return true;
      }
      for (;;) {
        if (!skip_value(c, depth + 1)) return false;
        c.ws();
        if (c.p < c.end && *c.p == ',') {
          ++c.p;
          continue;
        }
        return c.expect(']');
      }
    }
    case '{': {
      ++c.p;
      c.ws();
      if (c.p < c.end && *c.p == '}') {
        ++c.p;
        return true;
      }
      for (;;) {
        c.ws();
        if (!parse_string(c, nullptr) || !c.expect(':') || !skip_value(c, depth + 1)) return false;
        c.ws();
        if (c.p < c.end && *c.p == ',') {
          ++c.p;
          continue;
        }
        return c.expect('}');
      }
    }
    default: {
      const char* e;
      bool integer;
      if (!scan_number(c, &e, &integer)) return false;
      c.p = e;
      return true;
    }
  }
}

bool parse_int_value(Cursor& c, std::string_view key, int64_t lo, int64_t hi, int64_t* out) {
  c.ws();
  if (c.p >= c.end || !(*c.p == '-' || std::isdigit(static_cast<unsigned char>(*c.p)))) {
    c.err.clear();
    c.err = "key '" + std::string(key) + "' is " + kind_at(c) + ", expected an integer";
    return false;
  }
  const char* e;
  bool integer;
  if (!scan_number(c, &e, &integer)) return false;
  if (!integer) {
    c.err = "key '" + std::string(key) + "' is not an integer (" + std::string(c.p, e) + ")";
    return false;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(c.p, e, v);
  if (ec != std::errc() || ptr != e || v < lo || v > hi) {
    c.err = "key '" + std::string(key) + "' is out of range (" + std::string(c.p, e) + ")";
    return false;
  }
  c.p = e;
  *out = v;
  return true;
}

bool parse_logits(Cursor& c, DumpRecord& out) {
  c.ws();
  if (c.p >= c.end || *c.p != '[') {
    c.err = std::string("key 'logits' is ") + kind_at(c) + ", expected an array";
    return false;
  }
  ++c.p;
  out.logits.clear();
  out.is_null.clear();
  c.ws();
  if (c.p < c.end && *c.p == ']') {
    ++c.p;
    return true;
  }
  for (;;) {
    c.ws();
    size_t i = out.logits.size();
    if (c.p < c.end && *c.p == 'n') {
      if (!parse_literal(c, "null")) return false;
      out.logits.push_back(std::numeric_limits<float>::quiet_NaN());
      out.is_null.push_back(true);
    } else if (c.p < c.end && (*c.p == '-' || std::isdigit(static_cast<unsigned char>(*c.p)))) {
      const char* e;
      bool integer;
      if (!scan_number(c, &e, &integer)) return false;
      float v = 0.0f;
      auto [ptr, ec] = std::from_chars(c.p, e, v);
      if (ptr != e || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
        return c.fail("logits[" + std::to_string(i) + "] is not a valid number");
      }
      if (ec == std::errc::result_out_of_range) {
        // Underflow to zero or a subnormal is representable; overflow is not a float32.
        double d = 0.0;
        std::from_chars(c.p, e, d);
        if (!(std::abs(d) < 3.4028235677973366e38)) {
          return c.fail("logits[" + std::to_string(i) + "] = " + std::string(c.p, e) +
                        " is out of float32 range");
        }
        v = static_cast<float>(d);
        // Re-parse as float for exact bits when the value is representable (subnormal range).
        float f;
        auto r = std::from_chars(c.p, e, f);
        if (r.ec == std::errc()) v = f;
      }
      c.p = e;
      out.logits.push_back(v);
      out.is_null.push_back(false);
    } else {
      c.err = "column " + std::to_string(c.column()) + ": logits[" + std::to_string(i) + "] is " +
              kind_at(c) + ", expected a number or null";
      return false;
    }
    c.ws();
    if (c.p < c.end && *c.p == ',') {
      ++c.p;
      continue;
    }
    return c.expect(']');
  }
}

}  // namespace

std::string jsonl_record_parse(std::string_view line, DumpRecord& out) {
  Cursor c{line.data(), line.data(), line.data() + line.size(), {}};
  bool have_idx = false, have_id = false, have_logits = false;
  c.ws();
  if (!c.expect('{')) return "not a JSON object (" + c.err + ")";
  c.ws();
  if (c.p < c.end && *c.p == '}') {
    ++c.p;
  } else {
    for (;;) {
      c.ws();
      std::string_view key;
      if (!parse_string(c, &key) || !c.expect(':')) return c.err;
      if (key == "token_idx" || key == "token_id" || key == "logits") {
        bool& seen = key == "token_idx" ? have_idx : key == "token_id" ? have_id : have_logits;
        if (seen) return "duplicate key '" + std::string(key) + "'";
        seen = true;
        if (key == "token_idx") {
          if (!parse_int_value(c, key, 0, std::numeric_limits<int64_t>::max(), &out.token_idx)) return c.err;
        } else if (key == "token_id") {
          int64_t id = 0;
          if (!parse_int_value(c, key, std::numeric_limits<int32_t>::min(),
                               std::numeric_limits<int32_t>::max(), &id)) {
            return c.err;
          }
          out.token_id = static_cast<int32_t>(id);
        } else if (!parse_logits(c, out)) {
          return c.err;
        }
      } else if (!skip_value(c, 1)) {
        return c.err;
      }
      c.ws();
      if (c.p < c.end && *c.p == ',') {
        ++c.p;
        continue;
      }
      if (!c.expect('}')) return c.err;
      break;
    }
  }
  c.ws();
  if (c.p != c.end) {
    c.fail("unexpected text after the JSON object");
    return c.err;
  }
  if (!have_idx) return "key 'token_idx' is missing";
  if (!have_id) return "key 'token_id' is missing";
  if (!have_logits) return "key 'logits' is missing";
  return "";
}

}  // namespace greta::dump
