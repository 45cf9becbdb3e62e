#pragma once
// The server's counters, gauges and latency histograms, rendered in Prometheus' text exposition
// format (version 0.0.4) for GET /metrics. Thread-safe: handler threads and the engine thread
// update it.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace greta::server {

// Cumulative histogram over fixed bucket bounds (seconds).
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
  void observe(double seconds);
  // Appends "# HELP/# TYPE" and the _bucket/_sum/_count lines.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size() + 1> counts_{};  // last: +Inf only
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  std::atomic<int64_t> prompt_tokens{0};
  std::atomic<int64_t> generated_tokens{0};
  // Gauges, set by the engine after every step.
  std::atomic<int64_t> queue_depth{0};       // requests waiting for a slot
  std::atomic<int64_t> running_requests{0};  // requests with a slot
  std::atomic<int64_t> active_sequences{0};  // sequences in the KV cache (choices)
  std::atomic<int64_t> kv_blocks_used{0};
  std::atomic<int64_t> kv_blocks_free{0};
  std::atomic<int64_t> cancelled{0};         // requests cancelled by a client that went away
  std::atomic<int64_t> steps{0};             // forward passes
  std::atomic<int64_t> step_sequences{0};    // sequences summed over the forward passes
  std::atomic<int64_t> peak_step_sequences{0};
  Histogram time_to_first_token;
  Histogram time_per_output_token;

  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
};

}  // namespace greta::server
