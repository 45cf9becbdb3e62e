#include "greta/server/api.h"

#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

namespace greta::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Text from the model may hold invalid UTF-8 (a token piece cut inside a character): replaced
// by U+FFFD rather than failing the response.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpReply json_reply(int status, const json& j) {
  HttpReply r;
  r.status = status;
  r.body = dump(j);
  return r;
}

json bytes_of(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(c);
  return a;
}

// What one choice has received so far.
struct ChoiceOut {
  std::string text;
  std::vector<TokenId> ids;
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
};

// Per request: what the response builders need.
struct Shape {
  Endpoint endpoint = Endpoint::Completions;
  std::string id;
  std::string model;
  std::string fingerprint;
  int64_t created = 0;
  uint64_t seed = 0;
  bool logprobs = false;
  bool echo = false;
  std::string prompt_text;               // echo
  std::vector<TokenId> prompt;           // echo
  int64_t n_prompt = 0;
};

json envelope(const Shape& s, bool chunk) {
  json j;
  j["id"] = s.id;
  j["object"] = s.endpoint == Endpoint::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                             : "text_completion";
  j["created"] = s.created;
  j["model"] = s.model;
  j["system_fingerprint"] = s.fingerprint;
  j["seed"] = s.seed;
  return j;
}

// Completions' logprobs object over `lps` (prompt tokens first when echoing: the first one has
// no log-probability). text_offset counts bytes from the start of the choice's text.
json completion_logprobs(const Tokenizer& tok, const std::vector<const TokenLogprob*>& lps,
                         const std::vector<TokenId>& ids, int64_t& offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string piece = tok.token_to_piece(ids[i], true);
    tokens.push_back(piece);
    offsets.push_back(offset);
    offset += static_cast<int64_t>(piece.size());
    if (lps[i] == nullptr) {
      token_lps.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    token_lps.push_back(lps[i]->logprob);
    json top = json::object();
    for (const auto& [t, lp] : lps[i]->top) top[tok.token_to_piece(t, true)] = lp;
    tops.push_back(top);
  }
  return json{{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_logprob_entry(const Tokenizer& tok, const TokenLogprob& lp) {
  const std::string piece = tok.token_to_piece(lp.token, true);
  json top = json::array();
  for (const auto& [t, v] : lp.top) {
    const std::string p = tok.token_to_piece(t, true);
    top.push_back(json{{"token", p}, {"logprob", v}, {"bytes", bytes_of(p)}});
  }
  return json{{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}};
}

json usage_json(int64_t prompt, int64_t completion) {
  return json{{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

// Calls on_event with each Token, Done and Error event of the request until the request is over
// or on_event returns false (then returns false); the prompt's log-probabilities go to
// prompt_lps.
bool for_each_event(RequestHandle& h, std::vector<TokenLogprob>& prompt_lps, const std::function<bool(EngineEvent&)>& on_event) {
  std::deque<EngineEvent> events;
  while (h.wait(events, std::chrono::milliseconds(1000))) {
    for (EngineEvent& e : events) {
      if (e.kind == EngineEvent::Kind::Prompt) prompt_lps.push_back(*e.logprob);
      if (e.kind == EngineEvent::Kind::Started || e.kind == EngineEvent::Kind::Prompt) continue;
      if (!on_event(e)) return false;
    }
    events.clear();
  }
  return true;
}

uint64_t draw_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

std::string endpoint_label(const std::string& path) {
  if (path == "/v1/completions") return "completions";
  if (path == "/v1/chat/completions") return "chat";
  if (path == "/v1/models") return "models";
  if (path == "/health") return "health";
  if (path == "/metrics") return "metrics";
  if (path == "/") return "index";
  return "other";
}

bool constant_time_equal(const std::string& given, const std::string& expected) {
  // Every byte of `given` is compared (against expected's bytes, cycled), so the time depends on
  // the lengths only, never on where the first difference is.
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  if (expected.empty()) return given.empty();
  for (size_t i = 0; i < given.size(); ++i) diff = diff | (given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

Api::Api(Engine& engine, const Tokenizer& tokenizer, Metrics& metrics, ApiConfig config)
    : engine_(engine), tok_(tokenizer), metrics_(metrics), config_(std::move(config)) {}

HttpReply Api::error_reply(const ApiError& e) {
  json err{{"message", e.what()}, {"type", e.type()}, {"param", e.param().empty() ? json(nullptr) : json(e.param())},
           {"code", e.status()}};
  HttpReply r = json_reply(e.status(), json{{"error", err}});
  if (e.status() == 503 || e.status() == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpReply Api::handle(const HttpCall& call) {
  try {
    struct Route {
      const char* path;
      const char* method;
    };
    static constexpr Route kRoutes[] = {{"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"},
                                        {"/v1/models", "GET"},       {"/health", "GET"},
                                        {"/metrics", "GET"},         {"/", "GET"}};
    const Route* route = nullptr;
    for (const Route& r : kRoutes) {
      if (call.path == r.path) route = &r;
    }
    if (route == nullptr || (call.path == "/" && config_.index_html.empty())) {
      throw ApiError(404, "no such endpoint: " + call.path, "", "not_found_error");
    }
    const bool head_ok = call.method == "HEAD" && std::string(route->method) == "GET";
    if (call.method != route->method && !head_ok) {
      HttpReply r = error_reply(ApiError(405, "method " + call.method + " is not allowed on " + call.path + " (use " +
                                                  route->method + ")"));
      r.headers.emplace_back("Allow", route->method);
      return r;
    }
    if (call.path == "/health") return json_reply(200, json{{"status", "ok"}});
    if (call.path == "/") {
      HttpReply r;
      r.content_type = "text/html; charset=utf-8";
      r.body = config_.index_html;
      return r;
    }
    if (!config_.api_key.empty()) {
      const std::string auth = call.header ? call.header("Authorization") : std::string();
      const std::string prefix = "Bearer ";
      const bool ok = auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
                      constant_time_equal(auth.substr(prefix.size()), config_.api_key);
      if (!ok) {
        HttpReply r = error_reply(ApiError(401, auth.empty() ? "missing API key (Authorization: Bearer KEY)"
                                                             : "invalid API key",
                                           "", "authentication_error"));
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    if (call.path == "/metrics") {
      HttpReply r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = metrics_.render();
      return r;
    }
    if (call.path == "/v1/models") {
      json model{{"id", config_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "greta"}};
      return json_reply(200, json{{"object", "list"}, {"data", json::array({model})}});
    }
    return generate(call.path == "/v1/chat/completions" ? Endpoint::Chat : Endpoint::Completions, call.body);
  } catch (const ApiError& e) {
    return error_reply(e);
  } catch (const std::bad_alloc&) {
    return error_reply(ApiError(503, "out of memory", "", "server_error"));
  } catch (const std::exception& e) {
    return error_reply(ApiError(500, std::string("internal error: ") + e.what()));
  }
}

HttpReply Api::generate(Endpoint endpoint, const std::string& body) {
  const ApiRequest r = parse_api_request(endpoint, body);
  EngineRequest er;
  Shape s;
  s.endpoint = endpoint;
  s.model = r.model.empty() ? config_.model_id : r.model;
  s.fingerprint = config_.fingerprint;
  s.created = static_cast<int64_t>(std::time(nullptr));
  s.logprobs = r.top_logprobs >= 0;
  s.echo = r.echo;
  if (endpoint == Endpoint::Chat) {
    er.prompt = tok_.encode(chat_render(config_.chat, r.messages, config_.chat_tokens), true, true);
  } else if (r.prompt_is_tokens) {
    er.prompt = r.prompt_tokens;
    for (TokenId t : er.prompt) {
      if (t >= tok_.vocab_size()) {
        throw ApiError(400, "token id " + std::to_string(t) + " out of range [0, " + std::to_string(tok_.vocab_size()) + ")",
                       "prompt");
      }
    }
    if (r.echo) s.prompt_text = tok_.decode(er.prompt, false);
  } else {
    er.prompt = tok_.encode(r.prompt, true, true);
    s.prompt_text = r.prompt;
  }
  s.prompt = er.prompt;
  s.n_prompt = static_cast<int64_t>(er.prompt.size());
  er.max_tokens = r.max_tokens.value_or(endpoint == Endpoint::Chat ? engine_.n_ctx() : 16);
  er.sampling = SamplerParams{r.temperature, r.top_k, r.top_p, r.min_p};
  er.seed = r.seed ? *r.seed : draw_seed();
  s.seed = er.seed;
  er.n = r.n;
  er.stop = r.stop;
  er.top_logprobs = r.top_logprobs;
  er.prompt_logprobs = r.echo && s.logprobs;
  er.ignore_eos = r.ignore_eos;
  const int32_t n = r.n;
  std::shared_ptr<RequestHandle> h = engine_.submit(std::move(er));
  s.id = (endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);

  HttpReply reply;
  reply.headers.emplace_back("X-Greta-Seed", std::to_string(s.seed));
  const Tokenizer& tok = tok_;

  if (!r.stream) {
    std::vector<ChoiceOut> outs(static_cast<size_t>(n));
    std::vector<TokenLogprob> prompt_lps;
    std::string error;
    for_each_event(*h, prompt_lps, [&](EngineEvent& e) {
      ChoiceOut& c = outs[static_cast<size_t>(e.choice)];
      c.text += e.text;
      if (e.kind == EngineEvent::Kind::Token) {
        c.ids.push_back(e.token);
        if (e.logprob) c.logprobs.push_back(*e.logprob);
      } else if (e.kind == EngineEvent::Kind::Done) {
        c.finish_reason = e.finish_reason;
      } else {
        error = e.message;
      }
      return true;
    });
    if (!error.empty()) throw ApiError(error.find("shut down") != std::string::npos ? 503 : 500, error, "", "server_error");
    json j = envelope(s, false);
    json choices = json::array();
    int64_t completion_tokens = 0;
    for (int32_t i = 0; i < n; ++i) {
      const ChoiceOut& c = outs[static_cast<size_t>(i)];
      completion_tokens += static_cast<int64_t>(c.ids.size());
      json choice{{"index", i}, {"finish_reason", c.finish_reason}, {"token_ids", c.ids}};
      json lp = nullptr;
      if (endpoint == Endpoint::Chat) {
        choice["message"] = json{{"role", "assistant"}, {"content", c.text}};
        if (s.logprobs) {
          json content = json::array();
          for (const TokenLogprob& t : c.logprobs) content.push_back(chat_logprob_entry(tok, t));
          lp = json{{"content", content}};
        }
      } else {
        choice["text"] = (s.echo ? s.prompt_text : std::string()) + c.text;
        if (s.logprobs) {
          std::vector<const TokenLogprob*> ptrs;
          std::vector<TokenId> ids;
          if (s.echo) {
            ids = s.prompt;
            ptrs.push_back(nullptr);
            for (const TokenLogprob& t : prompt_lps) ptrs.push_back(&t);
            ptrs.resize(ids.size(), nullptr);
          }
          for (const TokenLogprob& t : c.logprobs) ptrs.push_back(&t);
          ids.insert(ids.end(), c.ids.begin(), c.ids.end());
          int64_t offset = 0;
          lp = completion_logprobs(tok, ptrs, ids, offset);
        }
      }
      choice["logprobs"] = lp;
      choices.push_back(choice);
    }
    j["choices"] = choices;
    j["usage"] = usage_json(s.n_prompt, completion_tokens);
    reply.body = dump(j);
    return reply;
  }

  reply.content_type = "text/event-stream";
  reply.headers.emplace_back("Cache-Control", "no-cache");
  const bool include_usage = r.include_usage;
  reply.stream = [h, s, n, include_usage, &tok](const std::function<bool(const std::string&)>& write) {
    const auto send = [&](const json& j) { return write("data: " + dump(j) + "\n\n"); };
    const auto chunk = [&](int32_t choice, const json& body_fields, const json& logprobs, const json& finish,
                           const std::vector<TokenId>& ids) {
      json j = envelope(s, true);
      json c = body_fields;
      c["index"] = choice;
      c["logprobs"] = logprobs;
      c["finish_reason"] = finish;
      c["token_ids"] = ids;
      j["choices"] = json::array({c});
      return send(j);
    };
    std::vector<int64_t> offsets(static_cast<size_t>(n), 0);
    std::vector<bool> opened(static_cast<size_t>(n), false);
    std::vector<TokenLogprob> prompt_lps;
    int64_t completion_tokens = 0;
    // The first chunk of a choice: the assistant role (chat) or the echoed prompt (completions).
    const auto open = [&](int32_t i) {
      if (opened[static_cast<size_t>(i)]) return true;
      opened[static_cast<size_t>(i)] = true;
      if (s.endpoint == Endpoint::Chat) {
        return chunk(i, json{{"delta", json{{"role", "assistant"}, {"content", ""}}}}, nullptr, nullptr, {});
      }
      if (!s.echo) return true;
      json lp = nullptr;
      if (s.logprobs) {
        std::vector<const TokenLogprob*> ptrs{nullptr};
        for (const TokenLogprob& t : prompt_lps) ptrs.push_back(&t);
        ptrs.resize(s.prompt.size(), nullptr);
        lp = completion_logprobs(tok, ptrs, s.prompt, offsets[static_cast<size_t>(i)]);
      }
      return chunk(i, json{{"text", s.prompt_text}}, lp, nullptr, {});
    };
    const bool ok = for_each_event(*h, prompt_lps, [&](EngineEvent& e) {
      if (e.kind == EngineEvent::Kind::Error) {
        const ApiError err(e.message.find("shut down") != std::string::npos ? 503 : 500, e.message, "", "server_error");
        return send(json{{"error", json{{"message", err.what()}, {"type", err.type()}, {"param", nullptr}, {"code", err.status()}}}});
      }
      if (!open(e.choice)) return false;
      const bool chat = s.endpoint == Endpoint::Chat;
      if (e.kind == EngineEvent::Kind::Done) {
        const json fields = chat ? json{{"delta", e.text.empty() ? json::object() : json{{"content", e.text}}}} : json{{"text", e.text}};
        return chunk(e.choice, fields, nullptr, e.finish_reason, {});
      }
      completion_tokens += 1;
      json lp = nullptr;
      if (e.logprob && chat) {
        lp = json{{"content", json::array({chat_logprob_entry(tok, *e.logprob)})}};
      } else if (e.logprob) {
        lp = completion_logprobs(tok, {&*e.logprob}, {e.token}, offsets[static_cast<size_t>(e.choice)]);
      }
      const json fields = chat ? json{{"delta", json{{"content", e.text}}}} : json{{"text", e.text}};
      return chunk(e.choice, fields, lp, nullptr, {e.token});
    });
    if (!ok) {
      h->cancel();  // the client went away: the engine frees the sequences at its next step
      return;
    }
    if (include_usage) {
      json j = envelope(s, true);
      j["choices"] = json::array();
      j["usage"] = usage_json(s.n_prompt, completion_tokens);
      if (!send(j)) return;
    }
    write("data: [DONE]\n\n");
  };
  return reply;
}

}  // namespace greta::server
