// The JSON -> request parser (no HTTP, no model), the engine's text helpers and the metrics text.
#include <cmath>

#include <gtest/gtest.h>

#include "greta/server/api.h"
#include "greta/server/api_request.h"
#include "greta/server/engine.h"
#include "greta/server/metrics.h"

namespace greta::server {
namespace {

int status_of(Endpoint e, const std::string& body) {
  try {
    parse_api_request(e, body);
    return 200;
  } catch (const ApiError& err) {
    return err.status();
  }
}

std::string param_of(Endpoint e, const std::string& body) {
  try {
    parse_api_request(e, body);
  } catch (const ApiError& err) {
    return err.param();
  }
  return "<none>";
}

TEST(ApiRequest, CompletionFieldsAndDefaults) {
  const ApiRequest r = parse_api_request(Endpoint::Completions, R"({"prompt": "Hi", "unknown": {"a": [1]}})");
  EXPECT_EQ(r.prompt, "Hi");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.temperature, 1.0f);
  EXPECT_EQ(r.top_logprobs, -1);
  EXPECT_FALSE(r.seed.has_value());
  const ApiRequest f = parse_api_request(
      Endpoint::Completions,
      R"({"prompt": ["x"], "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0.1, "seed": -1,
          "stop": ["a", "bc"], "n": 2, "stream": true, "stream_options": {"include_usage": true}, "logprobs": 3,
          "echo": true, "ignore_eos": true})");
  EXPECT_EQ(f.prompt, "x");
  EXPECT_EQ(*f.max_tokens, 7);
  EXPECT_EQ(f.top_k, 3);
  EXPECT_EQ(*f.seed, UINT64_MAX);
  EXPECT_EQ(f.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(f.n, 2);
  EXPECT_TRUE(f.stream && f.include_usage && f.echo && f.ignore_eos);
  EXPECT_EQ(f.top_logprobs, 3);
  const ApiRequest t = parse_api_request(Endpoint::Completions, R"({"prompt": [[1, 2, 3]]})");
  EXPECT_TRUE(t.prompt_is_tokens);
  EXPECT_EQ(t.prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
}

TEST(ApiRequest, ChatMessagesAndLogprobs) {
  const ApiRequest r = parse_api_request(
      Endpoint::Chat,
      R"({"messages": [{"role": "developer", "content": "S"}, {"role": "user", "content": [{"type": "text", "text": "a"},
          {"type": "text", "text": "b"}]}], "logprobs": true, "top_logprobs": 4, "max_completion_tokens": 9})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.top_logprobs, 4);
  EXPECT_EQ(*r.max_tokens, 9);
  EXPECT_EQ(parse_api_request(Endpoint::Chat, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})").top_logprobs, 0);
}

TEST(ApiRequest, BadValuesAre400NamingTheParameter) {
  const Endpoint C = Endpoint::Completions, H = Endpoint::Chat;
  EXPECT_EQ(status_of(C, ""), 400);
  EXPECT_EQ(status_of(C, "nul"), 400);
  EXPECT_EQ(status_of(C, "\"text\""), 400);
  EXPECT_EQ(status_of(C, "{\"prompt\": \"\xff\"}"), 400);  // invalid UTF-8
  EXPECT_EQ(status_of(C, std::string(40, '[') + std::string(40, ']')), 400);
  EXPECT_EQ(param_of(C, R"({})"), "prompt");
  EXPECT_EQ(param_of(C, R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(param_of(C, R"({"prompt": ["a", "b"]})"), "prompt");
  EXPECT_EQ(param_of(C, R"({"prompt": [1, -2]})"), "prompt");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "max_tokens": 1.5})"), "max_tokens");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "max_tokens": -1})"), "max_tokens");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "temperature": "hot"})"), "temperature");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "temperature": 2.5})"), "temperature");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "top_p": 1.5})"), "top_p");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "top_k": -1})"), "top_k");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "min_p": -0.1})"), "min_p");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "seed": 1.5})"), "seed");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "stop": [""]})"), "stop");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})"), "stop");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "stop": 3})"), "stop");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "n": 0})"), "n");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "n": 17})"), "n");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "stream": 1})"), "stream");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "logprobs": 21})"), "logprobs");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "echo": "yes"})"), "echo");
  EXPECT_EQ(param_of(C, R"({"prompt": "x", "model": 3})"), "model");
  EXPECT_EQ(param_of(H, R"({"messages": []})"), "messages");
  EXPECT_EQ(param_of(H, R"({"messages": [{"content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(param_of(H, R"({"messages": [{"role": "user", "content": 3}]})"), "messages[0].content");
  EXPECT_EQ(param_of(H, R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"), "messages[0].content");
  EXPECT_EQ(param_of(H, R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})"), "top_logprobs");
  EXPECT_EQ(param_of(H, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})"),
            "top_logprobs");
}

TEST(EngineText, StopStringsAreCutAndHeldBack) {
  const std::vector<std::string> stops = {"END", "xyz"};
  std::string pending = "hello E";
  auto [out, stopped] = stop_string_cut(pending, stops, false);
  EXPECT_EQ(out, "hello ");  // "E" may start "END"
  EXPECT_FALSE(stopped);
  EXPECT_EQ(pending, "E");
  pending += "N";
  std::tie(out, stopped) = stop_string_cut(pending, stops, false);
  EXPECT_EQ(out, "");
  pending += "D and more";
  std::tie(out, stopped) = stop_string_cut(pending, stops, false);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(stopped);
  pending = "ab x";
  std::tie(out, stopped) = stop_string_cut(pending, stops, true);  // final: nothing held back
  EXPECT_EQ(out, "ab x");
  EXPECT_FALSE(stopped);
  pending = "no stops";
  std::tie(out, stopped) = stop_string_cut(pending, {}, false);
  EXPECT_EQ(out, "no stops");
}

TEST(EngineText, LogprobIsLogSoftmaxWithOrderedAlternatives) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f};
  const TokenLogprob lp = token_logprob(logits.data(), 4, 0, 3);
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  EXPECT_NEAR(lp.logprob, 1.0 - std::log(z), 1e-12);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // tie: lower id first
  EXPECT_EQ(lp.top[1].first, 2);
  EXPECT_EQ(lp.top[2].first, 0);
  EXPECT_TRUE(token_logprob(logits.data(), 4, 3, 0).top.empty());
}

TEST(Api, ConstantTimeCompare) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abd", "abc"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("abcabc", "abc"));
  EXPECT_FALSE(constant_time_equal("", "abc"));
}

TEST(Metrics, PrometheusText) {
  Metrics m;
  m.count_request("chat", 200);
  m.count_request("chat", 200);
  m.count_request("completions", 400);
  m.generated_tokens += 5;
  m.time_to_first_token.observe(0.003);
  m.time_to_first_token.observe(20.0);
  const std::string t = m.render();
  EXPECT_NE(t.find("greta_requests_total{endpoint=\"chat\",status=\"200\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("greta_requests_total{endpoint=\"completions\",status=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("greta_generated_tokens_total 5\n"), std::string::npos);
  EXPECT_NE(t.find("greta_time_to_first_token_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("greta_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("greta_time_to_first_token_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE greta_kv_blocks_free gauge\n"), std::string::npos);
}

}  // namespace
}  // namespace greta::server
