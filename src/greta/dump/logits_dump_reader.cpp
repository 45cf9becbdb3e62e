// read_dump: validates a dump directory against the contract (SPEC.md, "Dump contract").
// Every failure is greta::Error with kExitUsage, naming the file, the line and what is wrong.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greta/core/error.h"
#include "greta/dump/dump_files.h"
#include "greta/dump/gzip_stream.h"
#include "greta/dump/jsonl_record.h"
#include "greta/dump/logits_dump.h"

namespace greta::dump {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void invalid(const std::string& msg) { fail(msg, kExitUsage); }

const char* json_type_name(const json& v) {
  if (v.is_number_unsigned() || v.is_number_integer()) return "an integer";
  if (v.is_number_float()) return "a non-integer number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

std::string read_all(int fd, const std::string& display) {
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      invalid("reading '" + display + "': " + std::strerror(errno));
    }
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

// A required non-negative integer key of `obj` (a JSON integer: 3.0 and "3" are refused).
int64_t require_int(const json& obj, const std::string& key, const std::string& where, const std::string& file) {
  auto it = obj.find(key);
  if (it == obj.end()) invalid(file + ": missing required key '" + where + "'");
  if (!it->is_number_integer()) {
    invalid(file + ": key '" + where + "' must be an integer, got " + json_type_name(*it));
  }
  if (it->is_number_unsigned()) {
    uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) invalid(file + ": key '" + where + "' is out of range");
    return static_cast<int64_t>(u);
  }
  int64_t v = it->get<int64_t>();
  if (v < 0) invalid(file + ": key '" + where + "' must be >= 0, got " + std::to_string(v));
  return v;
}

std::string require_string(const json& obj, const std::string& key, const std::string& file) {
  auto it = obj.find(key);
  if (it == obj.end()) invalid(file + ": missing required key '" + key + "'");
  if (!it->is_string()) invalid(file + ": key '" + key + "' must be a string, got " + json_type_name(*it));
  return it->get<std::string>();
}

// "YYYY-MM-DDTHH:MM:SS[.fraction]Z"
bool is_utc_iso8601(const std::string& s) {
  auto digits = [&](size_t pos, size_t n) {
    if (pos + n > s.size()) return false;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (s.size() < 20 || !digits(0, 4) || s[4] != '-' || !digits(5, 2) || s[7] != '-' || !digits(8, 2) ||
      s[10] != 'T' || !digits(11, 2) || s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return false;
  }
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  return i + 1 == s.size() && s[i] == 'Z';
}

DumpMetadata parse_metadata(const json& j, const std::string& file) {
  if (!j.is_object()) invalid(file + ": expected a JSON object, got " + json_type_name(j));
  static const char* kRequired[] = {"dtype", "prompt_len", "gen_len", "seed", "kv_aligned",
                                    "mode", "token_span", "timestamp", "repo_branch"};
  for (const char* k : kRequired) {
    if (!j.contains(k)) invalid(file + ": missing required key '" + k + "'");
  }
  DumpMetadata m;
  m.dtype = require_string(j, "dtype", file);
  m.prompt_len = require_int(j, "prompt_len", "prompt_len", file);
  m.gen_len = require_int(j, "gen_len", "gen_len", file);
  const json& seed = j["seed"];
  if (!seed.is_number_integer()) invalid(file + ": key 'seed' must be an integer, got " + json_type_name(seed));
  if (!seed.is_number_unsigned()) invalid(file + ": key 'seed' must be an unsigned 64-bit integer, got " + seed.dump());
  m.seed = seed.get<uint64_t>();
  int64_t kv = require_int(j, "kv_aligned", "kv_aligned", file);
  if (kv != 0 && kv != 1) invalid(file + ": key 'kv_aligned' must be 0 or 1, got " + std::to_string(kv));
  m.kv_aligned = static_cast<int>(kv);
  m.mode = require_string(j, "mode", file);
  const json& span = j["token_span"];
  if (!span.is_object()) invalid(file + ": key 'token_span' must be an object, got " + json_type_name(span));
  m.span_start = require_int(span, "start", "token_span.start", file);
  m.span_count = require_int(span, "count", "token_span.count", file);
  if (m.span_count < 1) invalid(file + ": key 'token_span.count' must be >= 1, got 0");
  m.timestamp = require_string(j, "timestamp", file);
  if (!is_utc_iso8601(m.timestamp)) {
    invalid(file + ": key 'timestamp' must be UTC ISO-8601 ending in Z (like 2026-02-07T20:00:00Z), got '" +
            m.timestamp + "'");
  }
  m.repo_branch = require_string(j, "repo_branch", file);
  m.extra = json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool required = false;
    for (const char* k : kRequired) required = required || it.key() == k;
    if (!required) m.extra[it.key()] = it.value();
  }
  return m;
}

constexpr int kMaxMetadataDepth = 64;

// The deepest nesting of arrays/objects in JSON text (brackets inside strings ignored); stops
// counting once past the limit.
int json_max_depth(const std::string& text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxMetadataDepth) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

Dump read_dump(const std::string& dir) {
  Dump d;
  d.dir = dir;
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) invalid("dump directory '" + dir + "' does not exist");
  if (!fs::is_directory(st)) invalid("dump '" + dir + "' is not a directory");
  const std::string meta_path = dir + "/" + kMetadataFile;
  const std::string logits_path = dir + "/" + kLogitsFile;

  // Open both files under the shared lock: a writer renames both names under the exclusive lock,
  // so the two descriptors belong to the same publication (see logits_dump_writer.cpp).
  Fd meta_fd, logits_fd;
  {
    DumpLock lock(dir, /*exclusive=*/false);
    meta_fd.fd = ::open(meta_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (meta_fd.fd < 0) {
      if (errno == ENOENT) invalid("dump '" + dir + "': " + kMetadataFile + " is missing");
      invalid("cannot open '" + meta_path + "': " + std::strerror(errno));
    }
    logits_fd.fd = ::open(logits_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (logits_fd.fd < 0) {
      if (errno == ENOENT) invalid("dump '" + dir + "': " + kLogitsFile + " is missing");
      invalid("cannot open '" + logits_path + "': " + std::strerror(errno));
    }
  }

  std::string meta_text = read_all(meta_fd.fd, meta_path);
  // nlohmann::json copies and prints recursively: refuse absurd nesting before parsing.
  if (int depth = json_max_depth(meta_text); depth > kMaxMetadataDepth) {
    invalid(meta_path + ": JSON nested deeper than " + std::to_string(kMaxMetadataDepth) + " levels");
  }
  try {
    d.metadata = json::parse(meta_text);
  } catch (const json::exception& e) {
    invalid(meta_path + ": invalid JSON: " + e.what());
  }
  d.meta = parse_metadata(d.metadata, meta_path);

  GunzipResult gz = gunzip_fd(logits_fd.fd, logits_path);
  // The writer's fingerprint of the logits file it published with this metadata.
  auto lf = d.metadata.find("logits_file");
  if (lf != d.metadata.end() && lf->is_object()) {
    auto b = lf->find("bytes");
    auto c = lf->find("crc32");
    if (b != lf->end() && c != lf->end() && b->is_number_unsigned() && c->is_string() &&
        (b->get<uint64_t>() != gz.compressed_bytes || c->get<std::string>() != hex32(gz.compressed_crc32))) {
      invalid("dump '" + dir + "': " + kMetadataFile + " does not belong to this " + kLogitsFile +
              " (recorded " + std::to_string(b->get<uint64_t>()) + " bytes, crc32 " + c->get<std::string>() +
              "; found " + std::to_string(gz.compressed_bytes) + " bytes, crc32 " + hex32(gz.compressed_crc32) +
              "): a crash or another writer replaced one of the files");
    }
  }

  const std::string& text = gz.text;
  size_t pos = 0;
  int64_t line_no = 0;
  int64_t n_vocab = -1;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t line_end = nl == std::string::npos ? text.size() : nl;
    std::string_view line(text.data() + pos, line_end - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    std::string where = logits_path + " line " + std::to_string(line_no);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) invalid(where + ": empty line");
    if (line_no > d.meta.span_count) {
      invalid(where + ": more lines than token_span.count = " + std::to_string(d.meta.span_count));
    }
    DumpRecord rec;
    std::string err = jsonl_record_parse(line, rec);
    if (!err.empty()) invalid(where + ": " + err);
    int64_t expect_idx = d.meta.span_start + line_no - 1;
    if (rec.token_idx != expect_idx) {
      invalid(where + ": token_idx is " + std::to_string(rec.token_idx) + ", expected " +
              std::to_string(expect_idx) + " (token_span starts at " + std::to_string(d.meta.span_start) + ")");
    }
    if (rec.token_id < 0) invalid(where + ": token_id is negative (" + std::to_string(rec.token_id) + ")");
    int64_t n = static_cast<int64_t>(rec.logits.size());
    if (n == 0) invalid(where + ": logits is empty");
    if (n_vocab < 0) {
      n_vocab = n;
    } else if (n != n_vocab) {
      invalid(where + ": " + std::to_string(n) + " logits, but line 1 has " + std::to_string(n_vocab));
    }
    d.records.push_back(std::move(rec));
  }
  if (line_no != d.meta.span_count) {
    invalid(logits_path + ": " + std::to_string(line_no) + " line" + (line_no == 1 ? "" : "s") +
            ", but token_span.count is " + std::to_string(d.meta.span_count));
  }
  auto vs = d.metadata.find("vocab_size");
  if (vs != d.metadata.end() && vs->is_number_integer() && vs->get<int64_t>() != n_vocab) {
    invalid(logits_path + ": lines have " + std::to_string(n_vocab) + " logits, but " + kMetadataFile +
            " says vocab_size " + std::to_string(vs->get<int64_t>()));
  }
  return d;
}

}  // namespace greta::dump
