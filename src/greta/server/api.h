#pragma once
// The OpenAI-compatible API, independent of the HTTP library: a call (method, path, headers,
// body) in, a reply out -- a whole body, or a stream of server-sent events written through a
// callback. tools/server/greta_server.cpp binds it to cpp-httplib; tests call it directly too.
// Every error is an OpenAI-style JSON error object with its status (docs/SERVER.md).

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "greta/server/api_request.h"
#include "greta/server/chat_template.h"
#include "greta/server/engine.h"
#include "greta/server/metrics.h"

namespace greta::server {

struct HttpCall {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::string body;
  // A request header's value ("" when absent); names are case-insensitive.
  std::function<std::string(const std::string& name)> header;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for streamed replies (text/event-stream): called once, on the handler's thread; `write`
  // sends a chunk and returns false once the client has gone away.
  std::function<void(const std::function<bool(const std::string&)>& write)> stream;
};

struct ApiConfig {
  std::string model_id;            // what /v1/models lists
  std::string api_key;             // empty: no authentication
  ChatFamily chat = ChatFamily::ChatML;
  ChatTokens chat_tokens;
  std::string fingerprint;         // system_fingerprint: "greta-<version>-<commit>-<kv>"
  std::string index_html;          // GET / ("" : 404)
};

// The endpoint label of a path for metrics ("completions", "chat", ..., "other").
std::string endpoint_label(const std::string& path);

// true when `given` equals `expected`, in time that depends on the lengths only.
bool constant_time_equal(const std::string& given, const std::string& expected);

class Api {
 public:
  Api(Engine& engine, const Tokenizer& tokenizer, Metrics& metrics, ApiConfig config);

  HttpReply handle(const HttpCall& call);

  // {"error": {"message", "type", "param", "code"}} with the error's status (and Retry-After on
  // 503).
  static HttpReply error_reply(const ApiError& e);

 private:
  HttpReply generate(Endpoint endpoint, const std::string& body);

  Engine& engine_;
  const Tokenizer& tok_;
  Metrics& metrics_;
  ApiConfig config_;
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace greta::server
