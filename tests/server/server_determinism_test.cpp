// Acceptance of issue 11, "determinism under load": each of 8 fixed requests (completions and
// chat; short, medium and a chunked > 256-token prompt; greedy and seeded sampling; stop strings,
// echo, token-id prompts; logprobs with 5 alternatives) returns exactly the same text, token ids
// and log-probabilities when sent alone as when sent among 1, 7 and 31 concurrent other requests,
// with --parallel 1, 4 and 16, in shuffled arrival orders, non-streamed and streamed -- on both
// shipped models, with --kv-aligned 1.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "server_process.h"

namespace greta::test {
namespace {

using nlohmann::json;

struct Job {
  std::string path;
  json body;
};

const char* kLongSentence = "The little dog ran to the park to find his red ball, and the sun was warm. ";

std::vector<Job> fixed_requests() {
  std::string long_prompt;
  for (int i = 0; i < 20; ++i) long_prompt += kLongSentence;
  std::vector<Job> jobs = {
      {"/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}, {"logprobs", 5}}},
      {"/v1/completions",
       {{"prompt", "Tom had a big red truck. He liked to play with it every day in the garden. One day"},
        {"max_tokens", 12}, {"temperature", 0.8}, {"top_k", 40}, {"top_p", 0.95}, {"seed", 11}, {"logprobs", 5}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "system"}, {"content", "You tell stories."}}, {{"role", "user"}, {"content", "A cat?"}}}},
        {"max_tokens", 10}, {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 5}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "user"}, {"content", "Tell me about the moon."}}}},
        {"max_tokens", 10}, {"temperature", 1.0}, {"min_p", 0.05}, {"seed", 12345}, {"logprobs", true}, {"top_logprobs", 5}}},
      {"/v1/completions", {{"prompt", long_prompt}, {"max_tokens", 8}, {"temperature", 0}, {"logprobs", 5}}},
      {"/v1/completions",
       {{"prompt", "The girl saw a bird."}, {"max_tokens", 14}, {"temperature", 0.7}, {"seed", 5}, {"stop", {"."}},
        {"logprobs", 5}}},
      {"/v1/completions",
       {{"prompt", "Lily and Ben"}, {"max_tokens", 9}, {"temperature", 0.9}, {"seed", 77}, {"echo", true}, {"logprobs", 5}}},
      {"/v1/completions",
       {{"prompt", {1, 100, 200, 300, 400}}, {"max_tokens", 10}, {"temperature", 1.2}, {"top_p", 0.9}, {"seed", 99},
        {"logprobs", 5}}},
  };
  return jobs;
}

// A random valid request (another client's load): random prompt length, parameters, streaming.
Job filler(std::mt19937_64& rng, int parallel) {
  static const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "ran", "far", "away", "home"};
  std::string prompt;
  const int n_words = 1 + static_cast<int>(rng() % 60);
  for (int i = 0; i < n_words; ++i) prompt += std::string(i ? " " : "") + words[rng() % 12];
  json body{{"max_tokens", 3 + static_cast<int>(rng() % 14)}, {"temperature", (rng() % 3) * 0.5}, {"seed", rng() % 1000},
            {"stream", rng() % 2 == 0}};
  if (parallel >= 2 && rng() % 4 == 0) body["n"] = 2;
  if (rng() % 2 == 0) {
    body["prompt"] = prompt;
    return {"/v1/completions", body};
  }
  body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  return {"/v1/chat/completions", body};
}

// Choice 0 of a reply, streamed or not, as {"text", "ids", "lp", "finish"}: lp holds each token's
// [logprob, top alternatives] (completions) or its content entry (chat).
json canonical(const std::string& path, const std::string& body, bool streamed) {
  const bool chat = path == "/v1/chat/completions";
  json out{{"text", ""}, {"ids", json::array()}, {"lp", json::array()}, {"finish", nullptr}};
  const auto absorb = [&](const json& c) {
    if (c.value("index", 0) != 0) return;
    if (chat) {
      const json& m = streamed ? c["delta"] : c["message"];
      if (m.contains("content") && m["content"].is_string()) out["text"] = out["text"].get<std::string>() + m["content"].get<std::string>();
    } else {
      out["text"] = out["text"].get<std::string>() + c["text"].get<std::string>();
    }
    for (const json& id : c["token_ids"]) out["ids"].push_back(id);
    const json& lp = c["logprobs"];
    if (lp.is_object()) {
      if (chat) {
        for (const json& e : lp["content"]) out["lp"].push_back(e);
      } else {
        for (size_t i = 0; i < lp["token_logprobs"].size(); ++i) {
          out["lp"].push_back(json::array({lp["token_logprobs"][i], lp["top_logprobs"][i], lp["tokens"][i]}));
        }
      }
    }
    if (!c["finish_reason"].is_null()) out["finish"] = c["finish_reason"];
  };
  if (!streamed) {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("choices")) return json{{"bad reply", body}};
    for (const json& c : j["choices"]) absorb(c);
    return out;
  }
  const std::vector<std::string> payloads = sse_payloads(body);
  if (payloads.empty() || payloads.back() != "[DONE]") return json{{"bad stream (no [DONE] last)", body}};
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const json j = json::parse(payloads[i], nullptr, false);
    if (!j.is_object() || !j.contains("choices")) return json{{"bad chunk", payloads[i]}};
    for (const json& c : j["choices"]) absorb(c);
  }
  return out;
}

json send(const ServerProcess& s, const Job& job, bool stream) {
  json body = job.body;
  body["stream"] = stream;
  const Reply r = post(s, job.path, body.dump());
  if (r.status != 200) return json{{"status", r.status}, {"body", r.body}};
  return canonical(job.path, r.body, stream);
}

// Sends the jobs concurrently, started in a shuffled order with small random gaps; returns the
// canonical replies in job order.
std::vector<json> send_concurrently(const ServerProcess& s, const std::vector<std::pair<Job, bool>>& jobs, uint64_t seed) {
  std::vector<size_t> order(jobs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<json> out(jobs.size());
  std::vector<std::thread> threads;
  for (size_t k : order) {
    threads.emplace_back([&, k] { out[k] = send(s, jobs[k].first, jobs[k].second); });
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
  }
  for (std::thread& t : threads) t.join();
  return out;
}

class ServerDeterminism : public ::testing::TestWithParam<const char*> {};

TEST_P(ServerDeterminism, SameAnswerAloneAndUnderLoad) {
  const std::vector<Job> fixed = fixed_requests();
  std::vector<json> baseline;
  for (int parallel : {1, 4, 16}) {
    SCOPED_TRACE("--parallel " + std::to_string(parallel));
    // GRETA_SERVER_TEST_BACKEND=cuda runs the same on the GPU (a CUDA build on a GPU machine).
    const char* backend = std::getenv("GRETA_SERVER_TEST_BACKEND");
    ServerProcess srv({"-m", shipped(GetParam()), "--kv-aligned", "1", "-t", "2", "-c", "1024", "--parallel",
                       std::to_string(parallel), "--backend", backend != nullptr ? backend : "cpu"});
    ASSERT_TRUE(srv.ready()) << srv.err();
    // Alone, one after the other.
    std::vector<json> alone;
    for (const Job& j : fixed) alone.push_back(send(srv, j, false));
    if (baseline.empty()) {
      // Request 4's prompt is prefilled in two chunks (more than kMaxMicroBatch = 256 tokens).
      const Reply r4 = post(srv, fixed[4].path, fixed[4].body.dump());
      const int64_t n4 = r4.json()["usage"]["prompt_tokens"].get<int64_t>();
      EXPECT_GT(n4, 256) << r4.body;
      EXPECT_LT(n4, 1000) << r4.body;
      baseline = alone;
      for (size_t i = 0; i < baseline.size(); ++i) {
        ASSERT_TRUE(baseline[i].contains("ids")) << "request " << i << ": " << baseline[i].dump();
        EXPECT_FALSE(baseline[i]["ids"].empty()) << "request " << i;
        // Every generated token has its log-probability (request 6 echoes its prompt's too).
        if (i == 6) {
          EXPECT_GT(baseline[i]["lp"].size(), baseline[i]["ids"].size());
        } else {
          EXPECT_EQ(baseline[i]["lp"].size(), baseline[i]["ids"].size()) << "request " << i;
        }
      }
    }
    for (size_t i = 0; i < fixed.size(); ++i) EXPECT_EQ(alone[i], baseline[i]) << "request " << i << " alone";

    std::mt19937_64 rng(1000 + static_cast<uint64_t>(parallel));
    // Among 1 other: each fixed request with one filler.
    for (size_t i = 0; i < fixed.size(); ++i) {
      const auto got = send_concurrently(srv, {{fixed[i], i % 2 == 1}, {filler(rng, parallel), false}}, rng());
      EXPECT_EQ(got[0], baseline[i]) << "request " << i << " among 1 other";
    }
    // Among 7 others: the 8 fixed requests at once, half of them streamed.
    {
      std::vector<std::pair<Job, bool>> jobs;
      for (size_t i = 0; i < fixed.size(); ++i) jobs.emplace_back(fixed[i], i % 2 == 0);
      const auto got = send_concurrently(srv, jobs, rng());
      for (size_t i = 0; i < fixed.size(); ++i) EXPECT_EQ(got[i], baseline[i]) << "request " << i << " among 7 others";
    }
    // Among 31 others: the 8 fixed and 24 fillers.
    {
      std::vector<std::pair<Job, bool>> jobs;
      for (size_t i = 0; i < fixed.size(); ++i) jobs.emplace_back(fixed[i], i % 2 == 1);
      for (int k = 0; k < 24; ++k) jobs.emplace_back(filler(rng, parallel), false);
      const auto got = send_concurrently(srv, jobs, rng());
      for (size_t i = 0; i < fixed.size(); ++i) EXPECT_EQ(got[i], baseline[i]) << "request " << i << " among 31 others";
      for (size_t k = fixed.size(); k < jobs.size(); ++k) EXPECT_TRUE(got[k].contains("ids")) << got[k].dump();
    }
    // The load was real: forward passes carried several sequences at once (all P of them).
    const std::string m = get(srv, "/metrics").body;
    EXPECT_EQ(metric(m, "greta_peak_step_sequences"), parallel) << m;
    std::printf("[ greta    ] --parallel %d: %.0f steps, mean %.2f sequences per step\n", parallel,
                metric(m, "greta_steps_total"), metric(m, "greta_step_sequences_total") / metric(m, "greta_steps_total"));
    EXPECT_EQ(srv.stop(), 0) << srv.err();
  }
}

INSTANTIATE_TEST_SUITE_P(ShippedModels, ServerDeterminism,
                         ::testing::Values("stories260K.gguf", "TinyStories-656K-Q8_0.gguf"),
                         [](const auto& info) { return std::string(info.param[0] == 's' ? "stories260K" : "tinystories656K"); });

}  // namespace
}  // namespace greta::test
