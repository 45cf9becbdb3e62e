#pragma once
// Crafting dump directories for tests (valid ones through DumpWriter, broken ones by hand).
// Shared by tests/dump and tests/compare.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "greta/dump/logits_dump.h"

namespace greta::dump::testing {

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "greta_dump_test.XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_gz(const std::string& path, const std::string& text) {
  gzFile g = gzopen(path.c_str(), "wb");
  gzwrite(g, text.data(), static_cast<unsigned>(text.size()));
  gzclose(g);
}

inline std::string read_gz(const std::string& path) {
  gzFile g = gzopen(path.c_str(), "rb");
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(g, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(g);
  return out;
}

inline DumpMetadata make_meta(int64_t start, int64_t count, int kv_aligned = 1, const std::string& mode = "prefill") {
  DumpMetadata m;
  m.dtype = "bf16";
  m.prompt_len = start;
  m.gen_len = 4;
  m.seed = 42;
  m.kv_aligned = kv_aligned;
  m.mode = mode;
  m.span_start = start;
  m.span_count = count;
  return m;
}

// Deterministic logit-like rows: [count][vocab] f32.
inline std::vector<std::vector<float>> make_rows(int64_t count, int64_t vocab, uint32_t seed = 1) {
  std::vector<std::vector<float>> rows(static_cast<size_t>(count), std::vector<float>(static_cast<size_t>(vocab)));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& r : rows) {
    for (auto& x : r) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x = static_cast<float>(static_cast<double>(s >> 11) * 0x1.0p-53 * 20.0 - 10.0);
    }
  }
  return rows;
}

// Writes a complete dump through the library.
inline void write_dump(const std::string& dir, const std::vector<std::vector<float>>& rows, int64_t start,
                       int kv_aligned = 1, const std::string& mode = "prefill",
                       const nlohmann::json& extra = nlohmann::json::object(), int32_t token_id_base = 100) {
  DumpWriter w(dir);
  for (size_t i = 0; i < rows.size(); ++i) {
    w.add(start + static_cast<int64_t>(i), token_id_base + static_cast<int32_t>(i), rows[i].data(),
          static_cast<int64_t>(rows[i].size()));
  }
  DumpMetadata m = make_meta(start, static_cast<int64_t>(rows.size()), kv_aligned, mode);
  m.extra = extra;
  w.finish(m);
}

// A hand-written valid dump (no logits_file fingerprint), for editing into broken ones.
inline nlohmann::json plain_metadata(int64_t start, int64_t count, int kv_aligned = 1) {
  return {{"dtype", "bf16"},   {"prompt_len", start}, {"gen_len", 1},
          {"seed", 42},        {"kv_aligned", kv_aligned}, {"mode", "prefill"},
          {"token_span", {{"start", start}, {"count", count}}},
          {"timestamp", "2026-02-07T20:00:00Z"}, {"repo_branch", "main"}};
}

inline std::string plain_line(int64_t idx, int32_t id, const std::vector<std::string>& logits) {
  std::string s = "{\"token_idx\": " + std::to_string(idx) + ", \"token_id\": " + std::to_string(id) + ", \"logits\": [";
  for (size_t i = 0; i < logits.size(); ++i) s += (i ? ", " : "") + logits[i];
  return s + "]}\n";
}

inline void write_plain_dump(const std::string& dir, const nlohmann::json& meta, const std::string& jsonl) {
  std::filesystem::create_directories(dir);
  write_text(dir + "/metadata.json", meta.dump(2));
  write_gz(dir + "/logits.jsonl.gz", jsonl);
}

}  // namespace greta::dump::testing
