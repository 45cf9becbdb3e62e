#pragma once
// The logits dump contract of ticket B3.68 (spec: /work/shared/spec/SPEC.md, "Dump contract").
//
//   DIR/metadata.json     {"dtype","prompt_len","gen_len","seed","kv_aligned","mode",
//                          "token_span":{"start","count"},"timestamp","repo_branch", extras...}
//   DIR/logits.jsonl.gz   one line per dumped token:
//                          {"token_idx": k, "token_id": id, "logits": [n_vocab floats]}
//
// Floats are written in the shortest form that reads back to the same float32 bits
// (std::to_chars); non-finite values are written as null. Both files are written under temporary
// names and renamed into place under a lock, so a crash or a concurrent run never leaves a
// half-written or mixed dump.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace greta::dump {

struct DumpMetadata {
  std::string dtype;        // "f32" | "f16" | "bf16"
  int64_t prompt_len = 0;
  int64_t gen_len = 0;      // tokens actually generated
  uint64_t seed = 0;
  int kv_aligned = 0;       // 0 | 1
  std::string mode;         // "prefill" | "decode"
  int64_t span_start = 0;
  int64_t span_count = 0;
  std::string timestamp;    // UTC ISO-8601 with Z; filled by the writer if empty
  std::string repo_branch;  // filled from build info if empty
  nlohmann::json extra = nlohmann::json::object();  // recommended extras (model, arch, vocab_size, ...)
};

class DumpWriter {
 public:
  // Creates `dir` if missing and checks that it is a writable directory, before any model work.
  // Throws greta::Error naming the directory and the problem.
  explicit DumpWriter(const std::string& dir);
  // Removes temporary files if finish() was not reached (error, signal).
  ~DumpWriter();
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;

  // Appends one record (streamed, compressed as it goes). Called in token_idx order.
  void add(int64_t token_idx, int32_t token_id, const float* logits, int64_t n_vocab);
  // Writes metadata.json and publishes both files atomically. Throws on I/O failure (disk full,
  // ...), leaving no partial file behind.
  void finish(const DumpMetadata& meta);
  // Deletes the temporaries now (used from signal-driven shutdown paths).
  void abort() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct DumpRecord {
  int64_t token_idx = 0;
  int32_t token_id = 0;
  std::vector<float> logits;   // NaN where the file had null
  std::vector<bool> is_null;   // true where the file had null
};

struct Dump {
  std::string dir;
  nlohmann::json metadata;      // as read
  DumpMetadata meta;            // parsed required keys
  std::vector<DumpRecord> records;
};

// Reads and validates a dump against the contract. Throws greta::Error with exit code 2 and a
// message naming the file, the line (for the JSONL) and what is wrong.
Dump read_dump(const std::string& dir);

// Shortest round-trip text of a float32 ("null" if non-finite). Appends to out.
void append_float(std::string& out, float v);

}  // namespace greta::dump
