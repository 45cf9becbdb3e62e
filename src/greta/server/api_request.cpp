#include "greta/server/api_request.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace greta::server {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

// The member `key` if present and not null.
const json* member(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t get_int(const json& v, const char* key, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) bad(key, std::string("'") + key + "' must be an integer");
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) bad(key, std::string("'") + key + "' must be at most " + std::to_string(hi));
    x = static_cast<int64_t>(u);
  } else {
    x = v.get<int64_t>();
  }
  if (x < lo || x > hi) {
    bad(key, std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                 std::to_string(x));
  }
  return x;
}

float get_float(const json& v, const char* key, double lo, double hi) {
  if (!v.is_number()) bad(key, std::string("'") + key + "' must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad(key, std::string("'") + key + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  }
  return static_cast<float>(x);
}

bool get_bool(const json& v, const char* key) {
  if (!v.is_boolean()) bad(key, std::string("'") + key + "' must be a boolean");
  return v.get<bool>();
}

std::vector<int32_t> get_token_array(const json& v) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const json& t : v) ids.push_back(static_cast<int32_t>(get_int(t, "prompt", 0, INT32_MAX)));
  return ids;
}

void parse_prompt(const json& body, ApiRequest& r) {
  const json* p = member(body, "prompt");
  if (p == nullptr) bad("prompt", "'prompt' is required");
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
    return;
  }
  if (!p->is_array()) bad("prompt", "'prompt' must be a string, an array of token ids or an array of one of those");
  if (!p->empty() && (*p)[0].is_number()) {
    r.prompt_tokens = get_token_array(*p);
    r.prompt_is_tokens = true;
    return;
  }
  if (p->size() != 1) bad("prompt", "'prompt' arrays must hold exactly one prompt (one request per prompt)");
  const json& one = (*p)[0];
  if (one.is_string()) {
    r.prompt = one.get<std::string>();
  } else if (one.is_array()) {
    r.prompt_tokens = get_token_array(one);
    r.prompt_is_tokens = true;
  } else {
    bad("prompt", "'prompt' must be a string, an array of token ids or an array of one of those");
  }
}

std::string message_content(const json& c, size_t i) {
  const std::string param = "messages[" + std::to_string(i) + "].content";
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(param, "'" + param + "' must be a string or an array of text parts");
  std::string text;
  for (const json& part : c) {
    if (!part.is_object()) bad(param, "'" + param + "' parts must be objects");
    const auto type = part.find("type");
    const auto t = part.find("text");
    if (type == part.end() || *type != "text" || t == part.end() || !t->is_string()) {
      bad(param, "'" + param + "' parts must be {\"type\": \"text\", \"text\": string} (only text is supported)");
    }
    text += t->get<std::string>();
  }
  return text;
}

void parse_messages(const json& body, ApiRequest& r) {
  const json* m = member(body, "messages");
  if (m == nullptr) bad("messages", "'messages' is required");
  if (!m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty array");
  for (size_t i = 0; i < m->size(); ++i) {
    const json& msg = (*m)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object()) bad(where, "'" + where + "' must be an object");
    const auto role = msg.find("role");
    if (role == msg.end() || !role->is_string()) bad(where + ".role", "'" + where + ".role' must be a string");
    std::string rs = role->get<std::string>();
    if (rs == "developer") rs = "system";
    if (rs != "system" && rs != "user" && rs != "assistant") {
      bad(where + ".role", "'" + where + ".role' must be system, user or assistant");
    }
    const auto content = msg.find("content");
    std::string text;
    if (content != msg.end() && !content->is_null()) text = message_content(*content, i);
    r.messages.push_back({rs, std::move(text)});
  }
}

void parse_stop(const json& body, ApiRequest& r) {
  const json* s = member(body, "stop");
  if (s == nullptr) return;
  std::vector<std::string> stops;
  if (s->is_string()) {
    stops.push_back(s->get<std::string>());
  } else if (s->is_array()) {
    if (s->size() > static_cast<size_t>(kMaxStopStrings)) {
      bad("stop", "'stop' holds at most " + std::to_string(kMaxStopStrings) + " strings");
    }
    for (const json& x : *s) {
      if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
      stops.push_back(x.get<std::string>());
    }
  } else {
    bad("stop", "'stop' must be a string or an array of strings");
  }
  for (const std::string& x : stops) {
    if (x.empty() || x.size() > kMaxStopBytes) {
      bad("stop", "each 'stop' string must have 1 to " + std::to_string(kMaxStopBytes) + " bytes");
    }
  }
  r.stop = std::move(stops);
}

void parse_logprobs(const json& body, ApiRequest& r) {
  const json* lp = member(body, "logprobs");
  const json* top = member(body, "top_logprobs");
  if (r.endpoint == Endpoint::Completions && lp != nullptr && lp->is_number()) {
    // Completions: logprobs is the number of alternatives.
    r.top_logprobs = static_cast<int32_t>(get_int(*lp, "logprobs", 0, kMaxTopLogprobs));
    return;
  }
  const bool on = lp != nullptr && get_bool(*lp, "logprobs");
  if (top != nullptr) {
    const int32_t k = static_cast<int32_t>(get_int(*top, "top_logprobs", 0, kMaxTopLogprobs));
    if (!on) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.top_logprobs = k;
  } else if (on) {
    r.top_logprobs = 0;
  }
}

}  // namespace

std::string ApiError::type() const {
  if (!type_.empty()) return type_;
  return status_ >= 500 ? "server_error" : "invalid_request_error";
}

ApiRequest parse_api_request(Endpoint endpoint, std::string_view body) {
  // Nesting is bounded before any value is built (a deep array would only cost memory, but a
  // request never needs more than a few levels).
  const json::parser_callback_t depth_check = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) throw ApiError(400, "the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
  json j;
  try {
    j = json::parse(body.begin(), body.end(), depth_check);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("the body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad("", "the body must be a JSON object");
  ApiRequest r;
  r.endpoint = endpoint;
  if (const json* m = member(j, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (endpoint == Endpoint::Completions) {
    parse_prompt(j, r);
  } else {
    parse_messages(j, r);
  }
  // max_completion_tokens is the newer name in chat; max_tokens wins when both are present.
  if (const json* v = member(j, "max_completion_tokens")) r.max_tokens = static_cast<int32_t>(get_int(*v, "max_completion_tokens", 0, kMaxMaxTokens));
  if (const json* v = member(j, "max_tokens")) r.max_tokens = static_cast<int32_t>(get_int(*v, "max_tokens", 0, kMaxMaxTokens));
  if (const json* v = member(j, "temperature")) r.temperature = get_float(*v, "temperature", 0.0, 2.0);
  if (const json* v = member(j, "top_p")) r.top_p = get_float(*v, "top_p", 0.0, 1.0);
  if (const json* v = member(j, "top_k")) r.top_k = static_cast<int32_t>(get_int(*v, "top_k", 0, INT32_MAX));
  if (const json* v = member(j, "min_p")) r.min_p = get_float(*v, "min_p", 0.0, 1.0);
  if (const json* v = member(j, "seed")) {
    // Any 64-bit integer; a negative one is taken modulo 2^64.
    if (!v->is_number_integer()) bad("seed", "'seed' must be an integer");
    r.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
  }
  parse_stop(j, r);
  if (const json* v = member(j, "n")) r.n = static_cast<int32_t>(get_int(*v, "n", 1, kMaxChoices));
  if (const json* v = member(j, "stream")) r.stream = get_bool(*v, "stream");
  if (const json* so = member(j, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (const json* v = member(*so, "include_usage")) r.include_usage = get_bool(*v, "stream_options.include_usage");
  }
  parse_logprobs(j, r);
  if (const json* v = member(j, "ignore_eos")) r.ignore_eos = get_bool(*v, "ignore_eos");
  if (endpoint == Endpoint::Completions) {
    if (const json* v = member(j, "echo")) r.echo = get_bool(*v, "echo");
  }
  return r;
}

}  // namespace greta::server
