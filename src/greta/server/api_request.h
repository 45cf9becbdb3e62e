#pragma once
// The body of a POST /v1/completions or /v1/chat/completions, parsed and checked: JSON -> a
// request with every parameter in range, or an ApiError (status 400) naming the parameter.
// Unknown fields are ignored, as OpenAI does. Knows nothing of HTTP, models or tokens, so the
// fuzz target (fuzz/fuzz_server_request.cpp) runs it on raw bytes.
//
//   ApiRequest r = parse_api_request(Endpoint::Chat, body);  // throws ApiError

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace greta::server {

// An OpenAI-style error: the HTTP status and the JSON body's error object
// {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string type = {})
      : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  // "invalid_request_error" (4xx) unless set, "server_error" (5xx).
  std::string type() const;

 private:
  int status_;
  std::string param_;
  std::string type_;
};

enum class Endpoint { Completions, Chat };

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant" ("developer" is read as "system")
  std::string content;  // text parts concatenated
};

// Limits of the parser (documented in docs/SERVER.md).
inline constexpr int kMaxJsonDepth = 32;
inline constexpr int kMaxStopStrings = 4;
inline constexpr size_t kMaxStopBytes = 256;
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr int kMaxChoices = 16;
inline constexpr int32_t kMaxMaxTokens = 1 << 20;

struct ApiRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;                  // as sent ("" when absent): any value selects the one model
  // Completions: the prompt as text, or as token ids (prompt_is_tokens).
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;
  std::vector<ChatMessage> messages;  // Chat: non-empty
  std::optional<int32_t> max_tokens;  // absent: completions 16, chat up to the context
  float temperature = 1.0f;           // OpenAI's defaults: 1, top_p 1; top_k and min_p off
  float top_p = 1.0f;
  int32_t top_k = 0;
  float min_p = 0.0f;
  std::optional<uint64_t> seed;       // absent: the server draws one and returns it
  std::vector<std::string> stop;
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  int32_t top_logprobs = -1;          // -1: no logprobs; else logprobs with this many alternatives
  bool echo = false;                  // completions only
  bool ignore_eos = false;            // greta (and llama-server) extension: generate past EOS
};

// Throws ApiError(400) for a body that is not a JSON object, a wrong type or an out-of-range
// value; the message names the parameter.
ApiRequest parse_api_request(Endpoint endpoint, std::string_view body);

}  // namespace greta::server
