#pragma once
// One broken dump per way the contract can be violated, with the message the reader must give.
// tests/dump checks read_dump() on them, tests/compare checks greta_compare's exit 2 and stderr.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dump/dump_fixtures.h"

namespace greta::dump::testing {

struct InvalidDumpCase {
  std::string name;
  std::function<void(const std::string& dir)> make;
  std::string message;  // a substring of the error message (after the dump dir)
};

inline std::string three_lines() {
  return plain_line(10, 1, {"1.5", "-2", "0.25"}) + plain_line(11, 2, {"1", "2", "3"});
}

inline std::vector<InvalidDumpCase> invalid_dump_cases() {
  using nlohmann::json;
  auto with_meta = [](std::function<void(json&)> edit) {
    return [edit](const std::string& dir) {
      json m = plain_metadata(10, 2);
      edit(m);
      write_plain_dump(dir, m, three_lines());
    };
  };
  auto with_lines = [](std::string lines, int64_t count = 2) {
    return [lines, count](const std::string& dir) { write_plain_dump(dir, plain_metadata(10, count), lines); };
  };
  return {
      {"missing_key", with_meta([](json& m) { m.erase("seed"); }), "metadata.json: missing required key 'seed'"},
      {"missing_span_key", with_meta([](json& m) { m["token_span"].erase("count"); }),
       "metadata.json: missing required key 'token_span.count'"},
      {"wrong_type", with_meta([](json& m) { m["prompt_len"] = "10"; }),
       "metadata.json: key 'prompt_len' must be an integer, got a string"},
      {"wrong_type_float", with_meta([](json& m) { m["gen_len"] = 1.5; }),
       "metadata.json: key 'gen_len' must be an integer, got a non-integer number"},
      {"wrong_type_string", with_meta([](json& m) { m["dtype"] = 16; }),
       "metadata.json: key 'dtype' must be a string, got an integer"},
      {"kv_aligned_2", with_meta([](json& m) { m["kv_aligned"] = 2; }),
       "metadata.json: key 'kv_aligned' must be 0 or 1, got 2"},
      {"negative_seed", with_meta([](json& m) { m["seed"] = -1; }),
       "metadata.json: key 'seed' must be an unsigned 64-bit integer, got -1"},
      {"span_not_object", with_meta([](json& m) { m["token_span"] = json::array({10, 2}); }),
       "metadata.json: key 'token_span' must be an object, got an array"},
      {"timestamp_not_utc", with_meta([](json& m) { m["timestamp"] = "2026-02-07 20:00:00"; }),
       "metadata.json: key 'timestamp' must be UTC ISO-8601 ending in Z"},
      {"metadata_not_object", [](const std::string& dir) { write_plain_dump(dir, json::array(), three_lines()); },
       "metadata.json: expected a JSON object, got an array"},
      {"metadata_bad_json",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         write_text(dir + "/metadata.json", "{\"dtype\": \"bf16\",");
       },
       "metadata.json: invalid JSON"},
      {"missing_metadata",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         std::filesystem::remove(dir + "/metadata.json");
       },
       "metadata.json is missing"},
      {"missing_logits",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         std::filesystem::remove(dir + "/logits.jsonl.gz");
       },
       "logits.jsonl.gz is missing"},
      {"truncated_gzip",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         std::string gz = read_text(dir + "/logits.jsonl.gz");
         write_text(dir + "/logits.jsonl.gz", gz.substr(0, gz.size() - 12));
       },
       "logits.jsonl.gz' is a truncated gzip file"},
      {"not_gzip",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         write_text(dir + "/logits.jsonl.gz", three_lines());
       },
       "logits.jsonl.gz' is not a gzip file"},
      {"corrupt_gzip",
       [](const std::string& dir) {
         write_plain_dump(dir, plain_metadata(10, 2), three_lines());
         std::string gz = read_text(dir + "/logits.jsonl.gz");
         for (size_t i = 12; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
         write_text(dir + "/logits.jsonl.gz", gz);
       },
       "logits.jsonl.gz' is corrupt gzip data"},
      {"bad_json_line",
       with_lines(plain_line(10, 1, {"1", "2", "3"}) + "{\"token_idx\": 11, \"token_id\": 2, \"logits\": [1, 2,]}\n"),
       "logits.jsonl.gz line 2: column 50: logits[2] is not a JSON value, expected a number or null"},
      {"line_not_object", with_lines(plain_line(10, 1, {"1", "2", "3"}) + "[1, 2, 3]\n"),
       "logits.jsonl.gz line 2: not a JSON object"},
      {"line_missing_key",
       with_lines(plain_line(10, 1, {"1", "2", "3"}) + "{\"token_idx\": 11, \"logits\": [1, 2, 3]}\n"),
       "logits.jsonl.gz line 2: key 'token_id' is missing"},
      {"logit_is_string", with_lines(plain_line(10, 1, {"1", "\"2\"", "3"}) + plain_line(11, 2, {"1", "2", "3"})),
       "logits.jsonl.gz line 1: column 48: logits[1] is a string, expected a number or null"},
      {"logit_nan_literal", with_lines(plain_line(10, 1, {"1", "NaN", "3"}) + plain_line(11, 2, {"1", "2", "3"})),
       "logits.jsonl.gz line 1: column 48: logits[1] is not a JSON value, expected a number or null"},
      {"logit_out_of_range", with_lines(plain_line(10, 1, {"1", "1e39", "3"}) + plain_line(11, 2, {"1", "2", "3"})),
       "logits.jsonl.gz line 1: column 48: logits[1] = 1e39 is out of float32 range"},
      {"token_idx_float", with_lines(plain_line(10, 1, {"1", "2", "3"}) + "{\"token_idx\": 11.0, \"token_id\": 2, \"logits\": [1, 2, 3]}\n"),
       "logits.jsonl.gz line 2: key 'token_idx' is not an integer (11.0)"},
      {"token_idx_sequence", with_lines(plain_line(10, 1, {"1", "2", "3"}) + plain_line(12, 2, {"1", "2", "3"})),
       "logits.jsonl.gz line 2: token_idx is 12, expected 11 (token_span starts at 10)"},
      {"ragged_vocab", with_lines(plain_line(10, 1, {"1", "2", "3"}) + plain_line(11, 2, {"1", "2"})),
       "logits.jsonl.gz line 2: 2 logits, but line 1 has 3"},
      {"too_few_lines", with_lines(plain_line(10, 1, {"1", "2", "3"})),
       "logits.jsonl.gz: 1 line, but token_span.count is 2"},
      {"too_many_lines", with_lines(three_lines() + plain_line(12, 3, {"1", "2", "3"})),
       "logits.jsonl.gz line 3: more lines than token_span.count = 2"},
      {"empty_line", with_lines(plain_line(10, 1, {"1", "2", "3"}) + "\n" + plain_line(11, 2, {"1", "2", "3"})),
       "logits.jsonl.gz line 2: empty line"},
      {"vocab_size_disagrees",
       [](const std::string& dir) {
         json m = plain_metadata(10, 2);
         m["vocab_size"] = 4;
         write_plain_dump(dir, m, three_lines());
       },
       "logits.jsonl.gz: lines have 3 logits, but metadata.json says vocab_size 4"},
  };
}

}  // namespace greta::dump::testing
