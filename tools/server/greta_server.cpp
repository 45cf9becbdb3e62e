// greta_server: an OpenAI-compatible HTTP server (docs/SERVER.md). The API logic lives in
// src/greta/server; this file binds it to cpp-httplib and owns the signals.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "greta/app/dump_metadata.h"
#include "greta/core/build_info.h"
#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/runtime/backend_registry.h"
#include "greta/runtime/context.h"
#include "greta/server/api.h"
#include "greta/server/server_options.h"
#include "greta_server_chat_html.h"
#ifdef GRETA_HAVE_CUDA
#include "greta/cuda/cuda_backend.h"
#endif

namespace {

using namespace greta;
using namespace greta::server;

// httplib's pool queues accepted connections without bound; this one makes the accept loop wait
// while every handler thread is busy and `n` connections are already queued, so at most 2n
// connections are held and the rest wait in the kernel's backlog.
class BoundedPool : public httplib::TaskQueue {
 public:
  explicit BoundedPool(size_t n) : limit_(n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return jobs_.size() < limit_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  // Connections accepted and waiting for a handler thread.
  bool backlogged() {
    std::lock_guard<std::mutex> lock(mu_);
    return !jobs_.empty();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  size_t limit_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool shutdown_ = false;
};

std::string model_id_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int run(int argc, char** argv) {
  // Signals are taken by one thread (sigwait below): block them before any thread starts.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const ServerParse parsed = parse_server_options(std::vector<std::string>(argv, argv + argc), process_env());
  if (parsed.exit_now) {
    std::fputs(parsed.text.c_str(), stdout);
    return 0;
  }
  const ServerOptions& o = parsed.options;
#ifdef GRETA_HAVE_CUDA
  cuda::register_backend();
#endif
  if (find_backend(o.backend) == nullptr) {
    fail("--backend " + o.backend + ": this greta_server was built without it (configure with -DGRETA_CUDA=ON for cuda)",
         kExitUsage);
  }
  InferOptions where;
  where.model_path = o.model_path;
  where.model_given = o.model_given;
  const std::string model_path = resolve_model_path(where);
  const std::unique_ptr<LoadedModel> lm = load_model(model_path);

  // The chat format: --chat-template, else the model's template recognised, else ChatML when the
  // model has none.
  ApiConfig config;
  const std::string tmpl(lm->file->get_string_or("tokenizer.chat_template", ""));
  std::string chat_source;
  if (!o.chat_template.empty()) {
    config.chat = *chat_family_from_name(o.chat_template);
    chat_source = "--chat-template";
  } else if (tmpl.empty()) {
    config.chat = ChatFamily::ChatML;
    chat_source = "default: the model has no tokenizer.chat_template";
  } else if (const auto f = chat_family_detect(tmpl)) {
    config.chat = *f;
    chat_source = "recognised in tokenizer.chat_template";
  } else {
    fail("the model's tokenizer.chat_template is not a recognised family; pass --chat-template NAME (llama2, llama3, "
         "chatml, mistral, gemma, phi3, zephyr, deepseek)",
         kExitUsage);
  }
  const Tokenizer& tok = *lm->tokenizer;
  if (tok.bos() >= 0) config.chat_tokens.bos = std::string(tok.token_text(tok.bos()));
  if (tok.eos() >= 0) config.chat_tokens.eos = std::string(tok.token_text(tok.eos()));
  config.model_id = model_id_of(model_path);
  config.api_key = o.api_key;
  config.index_html = kChatHtml;
  config.fingerprint = std::string("greta-") + build::kVersion + "-" + build::kGitCommit + "-" + o.backend +
                       (o.kv_aligned ? "-kv-aligned" : "");

  // The pool holds --parallel full sequences: every running choice can reach the context's end.
  Context ctx(*lm, ContextOptions{.backend = o.backend, .n_ctx = o.ctx_size, .n_seq_max = o.parallel,
                                  .kv_dtype = o.dtype, .kv_aligned = o.kv_aligned, .n_threads = o.n_threads,
                                  .f32_activations = o.f32_activations});
  Metrics metrics;
  Engine engine(ctx, tok, EngineOptions{o.parallel, o.max_queue}, metrics);
  Api api(engine, tok, metrics, config);

  httplib::Server svr;
  const size_t workers = static_cast<size_t>(o.max_connections);
  std::atomic<BoundedPool*> pool{nullptr};
  svr.new_task_queue = [workers, &pool] {
    pool.store(new BoundedPool(workers));
    return pool.load();
  };
  // httplib's default also sets SO_REUSEPORT, with which a second server on the same port would
  // start and silently take a share of the connections; SO_REUSEADDR alone makes it fail.
  svr.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr.set_payload_max_length(static_cast<size_t>(o.max_body));
  svr.set_read_timeout(o.timeout_s, 0);
  svr.set_write_timeout(o.timeout_s, 0);
  svr.set_keep_alive_timeout(5);
  svr.set_keep_alive_max_count(1000);
  const auto serve = [&](const httplib::Request& req, httplib::Response& res) {
    HttpCall call;
    call.method = req.method;
    call.path = req.path;
    call.body = req.body;
    call.header = [&req](const std::string& name) { return req.get_header_value(name); };
    HttpReply reply = api.handle(call);
    // Keep-alive would let a connection hold its handler thread while others wait: when some
    // do, this one is closed after its response.
    if (BoundedPool* p = pool.load(); p != nullptr && p->backlogged()) res.set_header("Connection", "close");
    metrics.count_request(endpoint_label(req.path), reply.status);
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    if (reply.stream) {
      auto stream = std::move(reply.stream);
      res.set_chunked_content_provider(reply.content_type, [stream](size_t, httplib::DataSink& sink) {
        stream([&sink](const std::string& data) { return sink.is_writable() && sink.write(data.data(), data.size()); });
        sink.done();
        return true;
      });
    } else {
      res.set_content(reply.body, reply.content_type);
    }
  };
  // Every method on the known paths goes to the API (it answers 405 for the wrong ones); other
  // paths match no route and get httplib's 404, turned into the API's error below. Literal
  // patterns only: httplib matches routes with std::regex, whose ".*" would recurse once per byte
  // of the URI on a handler thread's stack.
  for (const char* path : {"/", "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions"}) {
    svr.Get(path, serve);
    svr.Post(path, serve);
    svr.Put(path, serve);
    svr.Delete(path, serve);
    svr.Patch(path, serve);
    svr.Options(path, serve);
  }
  // Errors httplib answers itself (413 body too large, 400 malformed request line, 414 ...): the
  // same JSON error shape.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    metrics.count_request(endpoint_label(req.path), res.status);
    const char* what = res.status == 413   ? "the request body is larger than --max-body"
                       : res.status == 414 ? "the request URI is too long"
                       : res.status == 400 ? "malformed HTTP request"
                       : res.status == 404 ? "no such endpoint"
                                           : "HTTP error";
    const HttpReply reply = Api::error_reply(ApiError(res.status, what, "", res.status == 404 ? "not_found_error" : ""));
    res.set_content(reply.body, reply.content_type);
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([&](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    const HttpReply reply = Api::error_reply(ApiError(500, "internal error"));
    res.status = 500;
    res.set_content(reply.body, reply.content_type);
  });

  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) fail("cannot listen on " + o.host + " (any port)");
  } else if (!svr.bind_to_port(o.host, port)) {
    fail("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  std::fprintf(stderr, "greta_server: model %s (%s, %s), %s; parallel %d, ctx %d, kv-aligned %d, chat template %s (%s)\n",
               model_path.c_str(), lm->stats.arch.c_str(), lm->stats.weights_type.c_str(),
               ctx.backend_description().c_str(), o.parallel, ctx.n_ctx(), o.kv_aligned ? 1 : 0,
               chat_family_name(config.chat), chat_source.c_str());
  std::fprintf(stdout, "greta_server: listening on http://%s:%d\n", o.host.c_str(), port);
  std::fflush(stdout);
  std::fflush(stderr);

  // The stopper: SIGTERM/SIGINT, or --exit-after. Stops accepting, gives running requests the
  // grace period, then cancels what is left; listen_after_bind() returns once every handler has.
  std::atomic<bool> listening_done{false};
  std::thread stopper([&] {
    const auto t0 = std::chrono::steady_clock::now();
    int sig = 0;
    while (!listening_done.load()) {
      const timespec tick{0, 200 * 1000 * 1000};
      sig = sigtimedwait(&stop_set, nullptr, &tick);
      if (sig > 0) break;
      sig = 0;
      if (o.exit_after_s > 0 && std::chrono::steady_clock::now() - t0 >= std::chrono::seconds(o.exit_after_s)) break;
    }
    if (listening_done.load()) return;
    std::fprintf(stderr, "greta_server: %s: stopping (running requests get %d s)\n",
                 sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "--exit-after", o.shutdown_grace_s);
    // httplib's stop() does nothing until listen_after_bind() has started its loop: a signal that
    // arrives right after the "listening" line (a slow start, e.g. under a sanitizer) must wait.
    while (!svr.is_running() && !listening_done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    svr.stop();
    engine.shutdown(std::chrono::seconds(o.shutdown_grace_s));
  });
  const bool ok = svr.listen_after_bind();
  listening_done.store(true);
  stopper.join();
  engine.shutdown(std::chrono::seconds(0));
  if (!ok && svr.is_running()) fail("the listener failed");
  std::fprintf(stderr, "greta_server: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return greta::guarded_main("greta_server", [&] { return run(argc, argv); });
}
