#pragma once
// greta_server's flags, defined once (CLI11 table in server_options.cpp; docs/SERVER.md lists
// them). Every value is checked here, before a model is loaded: a bad one throws greta::Error
// with exit status 2 naming the flag.

#include <cstdint>
#include <string>
#include <vector>

#include "greta/app/infer_options.h"

namespace greta::server {

struct ServerOptions {
  std::string model_path = kDefaultModelPath;
  bool model_given = false;
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (the URL printed says which)
  int32_t parallel = 4;
  int32_t ctx_size = 0;
  int n_threads = 1;
  std::string backend = "cpu";
  KvDtype dtype = KvDtype::BF16;
  bool kv_aligned = kDefaultKvAligned;
  std::string kv_aligned_source;
  bool f32_activations = false;
  std::string api_key;              // --api-key, or the first line of --api-key-file
  int32_t max_queue = 64;
  std::string chat_template;        // a family name; empty: from the model
  int64_t max_body = 1 << 20;       // bytes
  int32_t max_connections = 64;     // connections served at once (handler threads)
  int timeout_s = 30;               // socket read/write timeout
  int shutdown_grace_s = 5;         // SIGTERM: time running requests get to finish
  int exit_after_s = 0;             // > 0: stop by itself after this long (tests, soak)
};

struct ServerParse {
  ServerOptions options;
  bool exit_now = false;  // --help / --version: print `text` and exit 0
  std::string text;
};

ServerParse parse_server_options(const std::vector<std::string>& args, const EnvLookup& env);

}  // namespace greta::server
