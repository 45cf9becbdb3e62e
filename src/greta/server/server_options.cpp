#include "greta/server/server_options.h"

#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/server/chat_template.h"

namespace greta::server {
namespace {

struct Raw {
  std::string model = kDefaultModelPath, host = "127.0.0.1", port = "8080", parallel = "4", ctx_size = "0", threads;
  std::string backend = "cpu", dtype = "bf16", kv_aligned, activations = "q8", api_key, api_key_file;
  std::string max_queue = "64", chat_template, max_body = "1048576", max_connections = "64", timeout = "30";
  std::string shutdown_grace = "5", exit_after = "0";
  bool version = false;
};

std::string read_key_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("--api-key-file: cannot read '" + path + "'", kExitUsage);
  std::string line;
  std::getline(f, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) fail("--api-key-file: the first line of '" + path + "' is empty", kExitUsage);
  return line;
}

}  // namespace

ServerParse parse_server_options(const std::vector<std::string>& args, const EnvLookup& env) {
  Raw r;
  CLI::App app{"greta_server: an OpenAI-compatible HTTP server whose answers do not depend on the load "
               "(see docs/SERVER.md)",
               "greta_server"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
  CLI::Option* model = app.add_option("-m,--model", r.model, "GGUF model file")->type_name("FILE")->default_str(r.model);
  app.add_option("--host", r.host, "address to listen on")->type_name("ADDR")->default_str(r.host);
  app.add_option("--port", r.port, "TCP port, 0 = any free port (0..65535)")->type_name("N")->default_str(r.port);
  app.add_option("--parallel", r.parallel, "sequences per forward pass (1..256)")->type_name("P")->default_str(r.parallel);
  app.add_option("-c,--ctx-size", r.ctx_size, "context positions per sequence (0 = the model's, capped at 4096)")
      ->type_name("N")->default_str(r.ctx_size);
  CLI::Option* threads = app.add_option("-t,--threads", r.threads, "CPU threads, 1..256 (default: the hardware threads)")
                             ->type_name("N");
  app.add_option("--backend", r.backend, "where the forward pass runs: cpu, or cuda in CUDA builds")
      ->type_name("NAME")->default_str(r.backend);
  app.add_option("--dtype", r.dtype, "KV-cache storage type: f32, f16 or bf16")->type_name("TYPE")->default_str(r.dtype);
  CLI::Option* kv = app.add_option("--kv-aligned", r.kv_aligned,
                                   "1: bit-exact mode: answers independent of the load (env GRETA_KV_ALIGNED)")
                        ->type_name("0|1")->default_str(kDefaultKvAligned ? "1" : "0");
  app.add_option("--activations", r.activations, "matmul activations: q8 (8-bit, fast, as ggml) or f32 (exact)")
      ->type_name("q8|f32")->default_str(r.activations);
  CLI::Option* key = app.add_option("--api-key", r.api_key, "require Authorization: Bearer KEY")->type_name("KEY");
  CLI::Option* key_file = app.add_option("--api-key-file", r.api_key_file, "the key on the first line of FILE")
                              ->type_name("FILE");
  app.add_option("--max-queue", r.max_queue, "requests waiting for a slot before 503 (1..100000)")
      ->type_name("Q")->default_str(r.max_queue);
  app.add_option("--chat-template", r.chat_template,
                 "chat format when the model's is missing or not recognised: llama2, llama3, chatml, mistral, "
                 "gemma, phi3, zephyr, deepseek")
      ->type_name("NAME");
  app.add_option("--max-body", r.max_body, "largest request body in bytes (1024..1073741824)")
      ->type_name("BYTES")->default_str(r.max_body);
  app.add_option("--max-connections", r.max_connections, "connections served at once (2..4096)")
      ->type_name("N")->default_str(r.max_connections);
  app.add_option("--timeout", r.timeout, "socket read/write timeout in seconds (1..3600)")
      ->type_name("S")->default_str(r.timeout);
  app.add_option("--shutdown-grace", r.shutdown_grace, "on SIGTERM, seconds running requests get to finish (0..3600)")
      ->type_name("S")->default_str(r.shutdown_grace);
  app.add_option("--exit-after", r.exit_after, "stop as on SIGTERM after this many seconds, 0 = never (tests, soak)")
      ->type_name("S")->default_str(r.exit_after);
  app.add_flag("--version", r.version, "print the version and exit");

  ServerParse result;
  if (std::optional<std::string> help = cli_parse(app, args, "greta_server")) {
    result.exit_now = true;
    result.text = std::move(*help);
    return result;
  }
  if (r.version) {
    result.exit_now = true;
    result.text = std::string("greta_server ") + build::kVersion + " (" + build::kGitBranch + "@" + build::kGitCommit + ")\n";
    return result;
  }
  ServerOptions& o = result.options;
  o.model_path = r.model;
  o.model_given = model->count() > 0;
  if (r.host.empty()) fail("--host: expected an address, got ''", kExitUsage);
  o.host = r.host;
  o.port = static_cast<int>(parse_int_value(r.port, "--port", 0, 65535));
  o.parallel = static_cast<int32_t>(parse_int_value(r.parallel, "--parallel", 1, 256));
  o.ctx_size = static_cast<int32_t>(parse_int_value(r.ctx_size, "--ctx-size", 0, 1 << 20));
  o.n_threads = threads->count() > 0 ? static_cast<int>(parse_int_value(r.threads, "--threads", 1, kMaxThreads))
                                     : default_thread_count();
  if (r.backend != "cpu" && r.backend != "cuda") fail("--backend: expected cpu or cuda, got '" + r.backend + "'", kExitUsage);
  o.backend = r.backend;
  o.dtype = parse_kv_dtype_value(r.dtype, "--dtype");
  resolve_kv_aligned(kv->count() > 0, r.kv_aligned, env, o.kv_aligned, o.kv_aligned_source);
  if (r.activations != "q8" && r.activations != "f32") {
    fail("--activations: expected q8 or f32, got '" + r.activations + "'", kExitUsage);
  }
  o.f32_activations = r.activations == "f32";
  if (key->count() > 0 && key_file->count() > 0) fail("--api-key and --api-key-file exclude each other", kExitUsage);
  if (key->count() > 0) {
    if (r.api_key.empty()) fail("--api-key: expected a key, got ''", kExitUsage);
    o.api_key = r.api_key;
  }
  if (key_file->count() > 0) o.api_key = read_key_file(r.api_key_file);
  o.max_queue = static_cast<int32_t>(parse_int_value(r.max_queue, "--max-queue", 1, 100000));
  if (!r.chat_template.empty() && !chat_family_from_name(r.chat_template)) {
    std::string names;
    for (const std::string& n : chat_family_names()) names += (names.empty() ? "" : ", ") + n;
    fail("--chat-template: expected one of " + names + ", got '" + r.chat_template + "'", kExitUsage);
  }
  o.chat_template = r.chat_template;
  o.max_body = parse_int_value(r.max_body, "--max-body", 1024, int64_t{1} << 30);
  o.max_connections = static_cast<int32_t>(parse_int_value(r.max_connections, "--max-connections", 2, 4096));
  o.timeout_s = static_cast<int>(parse_int_value(r.timeout, "--timeout", 1, 3600));
  o.shutdown_grace_s = static_cast<int>(parse_int_value(r.shutdown_grace, "--shutdown-grace", 0, 3600));
  o.exit_after_s = static_cast<int>(parse_int_value(r.exit_after, "--exit-after", 0, 86400 * 7));
  return result;
}

}  // namespace greta::server
