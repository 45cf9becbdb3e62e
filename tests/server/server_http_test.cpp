// greta_server over HTTP: every bad-request class gets its status and an OpenAI-style error
// JSON; API keys; a client that disconnects mid-stream frees its slot; n > 1; stop strings;
// SIGTERM exits 0.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "cli/cli_runner.h"
#include "greta/gguf/gguf_file.h"
#include "greta/gguf/gguf_writer.h"
#include "server_process.h"

namespace greta::test {
namespace {

using nlohmann::json;

void expect_error(const Reply& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  const json j = r.json();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << what << ": " << r.body;
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  EXPECT_TRUE(e["type"].is_string()) << what;
  EXPECT_TRUE(e.contains("param")) << what;
  EXPECT_EQ(e["code"], status) << what;
}

// Polls /metrics until pred(text) holds (10 s at most).
bool wait_metrics(const ServerProcess& s, const std::function<bool(const std::string&)>& pred) {
  for (int i = 0; i < 500; ++i) {
    const Reply r = get(s, "/metrics");
    if (r.status == 200 && pred(r.body)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

const char* kModel = "stories260K.gguf";

TEST(ServerHttp, BadRequestsGetTheirStatusAndAnErrorObject) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "-c", "64", "--parallel", "2", "--max-body", "4096"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  expect_error(post(srv, "/v1/completions", "{\"prompt\": "), 400, "malformed JSON");
  expect_error(post(srv, "/v1/completions", "[1, 2]"), 400, "not an object");
  expect_error(post(srv, "/v1/completions", R"({"prompt": "Hi", "max_tokens": "5"})"), 400, "wrong type");
  expect_error(post(srv, "/v1/completions", R"({"prompt": "Hi", "temperature": 3})"), 400, "out of range");
  expect_error(post(srv, "/v1/completions", R"({"max_tokens": 3})"), 400, "missing prompt");
  expect_error(post(srv, "/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "x"}]})"), 400, "bad role");
  expect_error(post(srv, "/v1/completions", R"({"prompt": "Hi", "n": 3})"), 400, "n above --parallel");
  expect_error(post(srv, "/v1/completions", R"({"prompt": [1, 99999]})"), 400, "token id out of range");
  std::string deep(100, '[');
  expect_error(post(srv, "/v1/completions", deep), 400, "deep nesting");
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "The cat sat on the mat. ";
  const Reply too_long = post(srv, "/v1/completions", json{{"prompt", long_prompt}}.dump());
  expect_error(too_long, 400, "prompt longer than the context");
  expect_error(get(srv, "/v1/nothing"), 404, "unknown path");
  const Reply m = get(srv, "/v1/completions");
  expect_error(m, 405, "GET on a POST endpoint");
  EXPECT_EQ(m.headers.find("Allow") != m.headers.end() ? m.headers.find("Allow")->second : "", "POST");
  expect_error(post(srv, "/health", "{}"), 405, "POST on a GET endpoint");
  expect_error(post(srv, "/v1/completions", json{{"prompt", std::string(5000, 'a')}}.dump()), 413, "body too large");
  // Unknown fields are ignored, and the server still answers after all of the above.
  const Reply ok = post(srv, "/v1/completions", R"({"prompt": "Hi", "max_tokens": 2, "frobnicate": [1, {"x": 2}]})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  const Reply metrics = get(srv, "/metrics");
  EXPECT_NE(metrics.body.find("greta_requests_total{endpoint=\"completions\",status=\"400\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("greta_requests_total{endpoint=\"completions\",status=\"413\"}"), std::string::npos);
  EXPECT_EQ(srv.stop(), 0) << srv.err();
}

TEST(ServerHttp, ApiKeyIsRequiredWhereSet) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "--api-key", "s3cret-key"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  const std::string body = R"({"prompt": "Hi", "max_tokens": 2})";
  expect_error(post(srv, "/v1/completions", body), 401, "no key");
  expect_error(post(srv, "/v1/completions", body, {{"Authorization", "Bearer s3cret-kez"}}), 401, "wrong key");
  expect_error(post(srv, "/v1/completions", body, {{"Authorization", "Bearer s3cret-key-longer"}}), 401, "longer key");
  expect_error(get(srv, "/v1/models"), 401, "models without a key");
  EXPECT_EQ(post(srv, "/v1/completions", body, {{"Authorization", "Bearer s3cret-key"}}).status, 200);
  EXPECT_EQ(get(srv, "/health").status, 200);
  EXPECT_EQ(srv.stop(), 0) << srv.err();
}

TEST(ServerHttp, FullQueueGets503WithRetryAfter) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "--parallel", "1", "--max-queue", "1", "--shutdown-grace", "0"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  const std::string slow = R"({"prompt": "Once", "max_tokens": 1900, "ignore_eos": true, "temperature": 0})";
  std::thread a([&] { post(srv, "/v1/completions", slow); });
  std::thread b;
  if (wait_metrics(srv, [](const std::string& t) { return metric(t, "greta_running_requests") == 1; })) {
    b = std::thread([&] { post(srv, "/v1/completions", slow); });
    if (wait_metrics(srv, [](const std::string& t) { return metric(t, "greta_queue_depth") == 1; })) {
      const Reply full = post(srv, "/v1/completions", R"({"prompt": "Hi", "max_tokens": 2})");
      expect_error(full, 503, "queue full");
      EXPECT_EQ(full.headers.count("Retry-After"), 1u);
    } else {
      ADD_FAILURE() << "the second request never queued: " << srv.err();
    }
  } else {
    ADD_FAILURE() << "the first request never ran: " << srv.err();
  }
  // SIGTERM with --shutdown-grace 0: the running and the queued request are cancelled, exit 0.
  EXPECT_EQ(srv.stop(), 0) << srv.err();
  a.join();
  if (b.joinable()) b.join();
}

TEST(ServerHttp, ClientThatDisconnectsMidStreamFreesItsSlot) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "--parallel", "2"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  httplib::Client c = srv.client();
  int chunks = 0;
  const std::string body = R"({"prompt": "Once", "max_tokens": 1900, "ignore_eos": true, "stream": true})";
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  c.send(req);
  EXPECT_EQ(chunks, 3);
  EXPECT_TRUE(wait_metrics(srv, [](const std::string& t) {
    return metric(t, "greta_cancelled_requests_total") == 1 && metric(t, "greta_active_sequences") == 0 &&
           metric(t, "greta_kv_blocks_used") == 0;
  })) << get(srv, "/metrics").body;
  // The slot serves the next request.
  EXPECT_EQ(post(srv, "/v1/completions", R"({"prompt": "Hi", "max_tokens": 2})").status, 200);
  EXPECT_EQ(srv.stop(), 0) << srv.err();
}

TEST(ServerHttp, ChoicesStopStringsAndStreamingAgree) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "--parallel", "4", "--kv-aligned", "1"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  // n = 3: choice c equals the same request with seed + c and n = 1.
  const json base{{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 1.0}, {"seed", 40}};
  json three = base;
  three["n"] = 3;
  const json r3 = post(srv, "/v1/completions", three.dump()).json();
  ASSERT_EQ(r3["choices"].size(), 3u) << r3.dump();
  for (int c = 0; c < 3; ++c) {
    json one = base;
    one["seed"] = 40 + c;
    const json r1 = post(srv, "/v1/completions", one.dump()).json();
    EXPECT_EQ(r3["choices"][c]["token_ids"], r1["choices"][0]["token_ids"]) << "choice " << c;
    EXPECT_EQ(r3["choices"][c]["text"], r1["choices"][0]["text"]) << "choice " << c;
  }
  // A stop string: the text ends before it, finish_reason "stop".
  const json greedy{{"prompt", "Once upon a time"}, {"max_tokens", 20}, {"temperature", 0}};
  const std::string full = post(srv, "/v1/completions", greedy.dump()).json()["choices"][0]["text"];
  ASSERT_NE(full.find(" was"), std::string::npos) << full;
  json stopped = greedy;
  stopped["stop"] = json::array({" was", "zzz"});
  const json rs = post(srv, "/v1/completions", stopped.dump()).json();
  EXPECT_EQ(rs["choices"][0]["text"], full.substr(0, full.find(" was")));
  EXPECT_EQ(rs["choices"][0]["finish_reason"], "stop");
  // Streamed: the chunks concatenate to the same text, [DONE] last, usage when asked for.
  stopped["stream"] = true;
  stopped["stream_options"] = {{"include_usage", true}};
  const Reply sr = post(srv, "/v1/completions", stopped.dump());
  EXPECT_EQ(sr.status, 200);
  const std::vector<std::string> payloads = sse_payloads(sr.body);
  ASSERT_GE(payloads.size(), 2u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text;
  bool usage = false;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const json j = json::parse(payloads[i]);
    for (const json& c : j["choices"]) text += c["text"].get<std::string>();
    usage = usage || j.contains("usage");
  }
  EXPECT_EQ(text, rs["choices"][0]["text"]);
  EXPECT_TRUE(usage);
  // The seed is returned (body and header) when drawn by the server.
  const Reply drawn = post(srv, "/v1/completions", R"({"prompt": "Hi", "max_tokens": 4})");
  const json dj = drawn.json();
  ASSERT_TRUE(dj["seed"].is_number_unsigned()) << drawn.body;
  EXPECT_EQ(drawn.headers.find("X-Greta-Seed")->second, std::to_string(dj["seed"].get<uint64_t>()));
  json again{{"prompt", "Hi"}, {"max_tokens", 4}, {"seed", dj["seed"]}};
  EXPECT_EQ(post(srv, "/v1/completions", again.dump()).json()["choices"][0]["token_ids"], dj["choices"][0]["token_ids"]);
  EXPECT_EQ(srv.stop(), 0) << srv.err();
}

TEST(ServerHttp, SigtermDuringAStreamExitsZero) {
  ServerProcess srv({"-m", shipped(kModel), "-t", "1", "--shutdown-grace", "1"});
  ASSERT_TRUE(srv.ready()) << srv.err();
  std::atomic<int> chunks{0};
  std::string got;
  std::thread client([&] {
    httplib::Client c = srv.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt": "Once", "max_tokens": 1900, "ignore_eos": true, "stream": true})";
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      got.append(d, n);
      chunks += 1;
      return true;
    };
    c.send(req);
  });
  for (int i = 0; i < 500 && chunks.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(srv.stop(20), 0) << srv.err();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  client.join();
  const std::vector<std::string> payloads = sse_payloads(got);
  ASSERT_FALSE(payloads.empty());
  EXPECT_EQ(payloads.back(), "[DONE]");
}

// stories260K with a tokenizer.chat_template added, written to a temporary file.
class TemplatedModel {
 public:
  explicit TemplatedModel(const std::string& chat_template) {
    path_ = (std::filesystem::temp_directory_path() / ("greta_server_tmpl_" + std::to_string(getpid()) + ".gguf")).string();
    const auto src = gguf::GgufFile::open(shipped(kModel));
    gguf::GgufWriter w;
    for (const gguf::KeyValue& kv : src->metadata()) {
      if (kv.key != "general.alignment") w.add_value(kv.key, kv.value);
    }
    w.add_string("tokenizer.chat_template", chat_template);
    for (const gguf::TensorInfo& t : src->tensors()) {
      w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims), t.data);
    }
    w.write_file(path_);
  }
  ~TemplatedModel() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ServerHttp, ChatTemplateFromTheModelOrAnError) {
  {
    TemplatedModel m("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}");
    ServerProcess srv({"-m", m.path(), "-t", "1"});
    ASSERT_TRUE(srv.ready()) << srv.err();
    EXPECT_NE(srv.err().find("chat template llama3 (recognised in tokenizer.chat_template)"), std::string::npos) << srv.err();
    const Reply r = post(srv, "/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(srv.stop(), 0);
  }
  {
    TemplatedModel m("{{ messages | tojson }}");
    ServerProcess refused({"-m", m.path(), "-t", "1"});
    EXPECT_FALSE(refused.ready());
    EXPECT_EQ(refused.wait_exit(30), 2);
    EXPECT_NE(refused.err().find("not a recognised family; pass --chat-template NAME"), std::string::npos) << refused.err();
    ServerProcess named({"-m", m.path(), "-t", "1", "--chat-template", "gemma"});
    ASSERT_TRUE(named.ready()) << named.err();
    EXPECT_NE(named.err().find("chat template gemma (--chat-template)"), std::string::npos) << named.err();
    EXPECT_EQ(named.stop(), 0);
  }
}

TEST(ServerHttp, StartUpErrorsAndVersion) {
  const auto run = [](std::vector<std::string> args) {
    CliRun r;
    r.args = std::move(args);
    r.timeout_s = 60;
    return run_cli(server_binary(), r);
  };
  const CliResult version = run({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("greta_server ", 0), 0u) << version.out;
  EXPECT_EQ(run({"--help"}).exit_code, 0);
  const CliResult bad = run({"--parallel", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--parallel"), std::string::npos) << bad.err;
  EXPECT_EQ(run({"--api-key", "a", "--api-key-file", "/nonexistent"}).exit_code, 2);
  EXPECT_EQ(run({"--api-key-file", "/nonexistent/key"}).exit_code, 2);
  EXPECT_EQ(run({"-m", "/nonexistent.gguf"}).exit_code, 1);
  // A port in use: exit 1, saying so.
  ServerProcess first({"-m", shipped(kModel), "-t", "1"});
  ASSERT_TRUE(first.ready());
  const CliResult busy = run({"-m", shipped(kModel), "-t", "1", "--host", "127.0.0.1", "--port", std::to_string(first.port())});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos) << busy.err;
  EXPECT_EQ(first.stop(), 0);
}

TEST(ServerHttp, UnrecognisedChatTemplateNameIsAUsageError) {
  ServerProcess srv({"-m", shipped(kModel), "--chat-template", "jinja-soup"});
  EXPECT_FALSE(srv.ready());
  EXPECT_EQ(srv.wait_exit(30), 2);
  EXPECT_NE(srv.err().find("--chat-template"), std::string::npos) << srv.err();
}

}  // namespace
}  // namespace greta::test
