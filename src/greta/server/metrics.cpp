#include "greta/server/metrics.h"

#include <cstdio>

namespace greta::server {
namespace {

std::string number(double v, const char* format = "%.17g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void scalar(std::string& out, const std::string& name, const char* type, const std::string& help, int64_t v) {
  header(out, name, type, help);
  out += name + " " + std::to_string(v) + "\n";
}

}  // namespace

void Histogram::observe(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  counts_[i] += 1;
  sum_ += seconds;
  count_ += 1;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard<std::mutex> lock(mu_);
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(kBounds[i], "%g") + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[kBounds.size()];
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += name + "_sum " + number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{endpoint, status}] += 1;
}

std::string Metrics::render() const {
  std::string out;
  header(out, "greta_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, n] : requests_) {
      out += "greta_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
             std::to_string(n) + "\n";
    }
  }
  scalar(out, "greta_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", prompt_tokens.load());
  scalar(out, "greta_generated_tokens_total", "counter", "Generated tokens.", generated_tokens.load());
  scalar(out, "greta_cancelled_requests_total", "counter", "Requests cancelled because the client went away.",
         cancelled.load());
  scalar(out, "greta_steps_total", "counter", "Forward passes (generator steps).", steps.load());
  scalar(out, "greta_step_sequences_total", "counter",
         "Sequences summed over the forward passes (divided by greta_steps_total: the mean batch).", step_sequences.load());
  scalar(out, "greta_peak_step_sequences", "gauge", "The most sequences one forward pass has carried.",
         peak_step_sequences.load());
  scalar(out, "greta_queue_depth", "gauge", "Requests waiting for a slot.", queue_depth.load());
  scalar(out, "greta_running_requests", "gauge", "Requests holding a slot.", running_requests.load());
  scalar(out, "greta_active_sequences", "gauge", "Sequences in the KV cache (one per running choice).",
         active_sequences.load());
  scalar(out, "greta_kv_blocks_used", "gauge", "KV-cache blocks held by sequences.", kv_blocks_used.load());
  scalar(out, "greta_kv_blocks_free", "gauge", "KV-cache blocks free.", kv_blocks_free.load());
  time_to_first_token.render(out, "greta_time_to_first_token_seconds", "From arrival to the first generated token.");
  time_per_output_token.render(out, "greta_time_per_output_token_seconds", "Between consecutive generated tokens.");
  return out;
}

}  // namespace greta::server
