// greta_bench_tokenizer: tokenization throughput (MB/s, one thread) on a 1 MB text.
//
//   greta_bench_tokenizer [-m VOCAB.gguf ...] [--text FILE] [--size BYTES] [--reps N]
//
// Without --text the input is a deterministic synthetic prose: 20,000 pseudo-words drawn with a
// Zipf distribution (like natural text), punctuation, numbers, newlines and ~2% non-ASCII words.
// Each model is timed `reps` times over the whole text; the best run is reported, as thread CPU
// time (the work itself, also on a busy shared machine) and as wall time.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <ctime>
#include <string>
#include <vector>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"
#include "greta/tokenizer/tokenizer.h"

namespace {

struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};

std::string synthetic_text(size_t size) {
  static const char* kSyllables[] = {"the", "an", "ing", "er", "on", "re", "at", "st", "ly", "ka", "mo", "ri",
                                     "tion", "pre", "con", "ex", "al", "ou", "ble", "for", "in", "de", "ma", "se"};
  static const char* kNonAscii[] = {"caf\xC3\xA9", "na\xC3\xAFve", "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
                                    "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x98\x80", "\xCE\xB1\xCE\xB2\xCE\xB3"};
  static const char* kPunct[] = {",", ".", ";", "!", "?", "'s", " -", ":"};
  Rng rng;
  constexpr int kWords = 20000;
  std::vector<std::string> words(kWords);
  for (auto& w : words) {
    const int n = 1 + static_cast<int>(rng.next() % 4);
    for (int i = 0; i < n; ++i) w += kSyllables[rng.next() % (sizeof(kSyllables) / sizeof(*kSyllables))];
    if (rng.next() % 10 == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
  }
  // Zipf(1) over word ranks via the inverse of the harmonic CDF (approximated by a table).
  std::vector<double> cdf(kWords);
  double h = 0;
  for (int i = 0; i < kWords; ++i) cdf[i] = (h += 1.0 / (i + 1));
  for (double& c : cdf) c /= h;

  std::string text;
  text.reserve(size + 64);
  while (text.size() < size) {
    const uint64_t r = rng.next() % 100;
    if (r < 2) {
      text += ' ';
      text += kNonAscii[rng.next() % (sizeof(kNonAscii) / sizeof(*kNonAscii))];
    } else if (r < 4) {
      text += ' ' + std::to_string(rng.next() % 100000);
    } else {
      const size_t k = std::lower_bound(cdf.begin(), cdf.end(), rng.uniform()) - cdf.begin();
      text += ' ';
      text += words[std::min<size_t>(k, kWords - 1)];
    }
    const uint64_t p = rng.next() % 100;
    if (p < 12) text += kPunct[rng.next() % (sizeof(kPunct) / sizeof(*kPunct))];
    if (p < 1) text += "\n\n";
  }
  text.resize(size);
  // Do not end inside a multi-byte character.
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0x80)) text.pop_back();
  return text;
}

// CPU time of this thread: on a shared machine it measures the work, not the waiting.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) greta::fail("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greta_bench_tokenizer: tokenization throughput on one thread"};
  std::vector<std::string> models = {"tests/data/tokenizer/ggml-vocab-gpt-2.gguf",
                                     "tests/data/tokenizer/ggml-vocab-llama-spm.gguf"};
  std::string text_file;
  size_t size = 1 << 20;
  int reps = 3;
  app.add_option("-m,--model", models, "vocab/model GGUF files (default: gpt-2 and llama-spm test vocabs)");
  app.add_option("--text", text_file, "tokenize this file instead of the synthetic text");
  app.add_option("--size", size, "synthetic text size in bytes")->check(CLI::Range(1, 1 << 30));
  app.add_option("--reps", reps, "timed repetitions per model (best is reported)")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  try {
    const std::string text = text_file.empty() ? synthetic_text(size) : read_file(text_file);
    std::printf("text: %s, %zu bytes\n", text_file.empty() ? "synthetic prose" : text_file.c_str(), text.size());
    std::printf("%-48s %6s %11s %11s %9s %8s %7s\n", "model", "type", "cpu MB/s", "wall MB/s", "tokens", "B/token",
                "load s");
    for (const std::string& m : models) {
      const auto l0 = std::chrono::steady_clock::now();
      auto file = greta::gguf::GgufFile::open(m);
      auto tok = greta::Tokenizer::from_gguf(*file);
      const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - l0).count();
      double best_cpu = 1e30, best_wall = 1e30;
      size_t n_tokens = 0;
      for (int r = 0; r < reps; ++r) {
        const double c0 = thread_cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = tok->encode(text, false, false);
        const auto t1 = std::chrono::steady_clock::now();
        best_cpu = std::min(best_cpu, thread_cpu_seconds() - c0);
        best_wall = std::min(best_wall, std::chrono::duration<double>(t1 - t0).count());
        n_tokens = ids.size();
      }
      const double mb = static_cast<double>(text.size()) / 1e6;
      std::printf("%-48s %6s %11.2f %11.2f %9zu %8.2f %7.2f\n", m.c_str(), std::string(tok->model_name()).c_str(),
                  mb / best_cpu, mb / best_wall, n_tokens,
                  static_cast<double>(text.size()) / std::max<size_t>(n_tokens, 1), load_s);
    }
    return 0;
  } catch (const greta::Error& e) {
    std::fprintf(stderr, "greta_bench_tokenizer: error: %s\n", e.what());
    return e.exit_code();
  }
}
