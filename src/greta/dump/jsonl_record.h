#pragma once
// A strict parser for one logits.jsonl line: {"token_idx": k, "token_id": id, "logits": [...]}.
//
// A hand-written parser rather than nlohmann::json: every logit is parsed with
// std::from_chars<float> straight from the text, so the float32 bits are exactly those the writer
// had (a detour through double could round twice), and a 32000-wide line parses ~10x faster.
// It accepts any JSON object (whitespace, key order, extra keys) and rejects everything that is
// not JSON, with the column and the reason.

#include <string>
#include <string_view>

#include "greta/dump/logits_dump.h"

namespace greta::dump {

// Parses `line` into `out`. Returns "" on success, else what is wrong ("column 17: expected ','",
// "key 'token_id' is missing", "logits[3] is a string, expected a number or null").
std::string jsonl_record_parse(std::string_view line, DumpRecord& out);

}  // namespace greta::dump
