// libFuzzer target: greta_server's request parser (JSON body -> ApiRequest) and what the server
// does next with a parsed request that needs no model: the chat rendering of every family and
// the stop-string cutter.
//
// Input layout: the first byte picks the endpoint (even: completions, odd: chat), the rest is the
// body. Parsing must either succeed with every value inside its documented range, or throw
// ApiError with status 400 and a non-empty message; nothing else may escape.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "greta/server/api_request.h"
#include "greta/server/chat_template.h"
#include "greta/server/engine.h"

namespace {
volatile size_t g_sink = 0;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace greta::server;
  if (size == 0) return 0;
  const Endpoint endpoint = (data[0] & 1) ? Endpoint::Chat : Endpoint::Completions;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiRequest r;
  try {
    r = parse_api_request(endpoint, body);
  } catch (const ApiError& e) {
    if (e.status() != 400 || std::string_view(e.what()).empty()) __builtin_trap();
    return 0;
  }
  // The documented ranges.
  if (r.max_tokens && (*r.max_tokens < 0 || *r.max_tokens > kMaxMaxTokens)) __builtin_trap();
  if (!(r.temperature >= 0.0f && r.temperature <= 2.0f)) __builtin_trap();
  if (!(r.top_p >= 0.0f && r.top_p <= 1.0f) || !(r.min_p >= 0.0f && r.min_p <= 1.0f) || r.top_k < 0) __builtin_trap();
  if (r.n < 1 || r.n > kMaxChoices || r.top_logprobs < -1 || r.top_logprobs > kMaxTopLogprobs) __builtin_trap();
  if (r.stop.size() > static_cast<size_t>(kMaxStopStrings)) __builtin_trap();
  for (const std::string& s : r.stop) {
    if (s.empty() || s.size() > kMaxStopBytes) __builtin_trap();
  }
  if (endpoint == Endpoint::Chat) {
    if (r.messages.empty()) __builtin_trap();
    for (const std::string& name : chat_family_names()) {
      g_sink = g_sink + chat_render(*chat_family_from_name(name), r.messages, {"<s>", "</s>"}).size();
    }
  } else {
    std::string pending = r.prompt;
    auto [out, stopped] = stop_string_cut(pending, r.stop, false);
    if (!stopped && out.size() + pending.size() != r.prompt.size()) __builtin_trap();
    g_sink = g_sink + out.size();
  }
  return 0;
}
