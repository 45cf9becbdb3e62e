// greta_bench_dump: how fast the logits dump is written and read (one thread).
//
//   greta_bench_dump [--positions 128] [--vocab 32000] [--dir DIR] [--reps 3] [--sweep]
//
// Target (issue 5): >= 10 million logits/s written on one core for a 128 x 32000 span. --sweep
// also times zlib's deflate settings against HuffmanGzipWriter, the evidence for the choice.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "greta/core/error.h"
#include "greta/dump/gzip_stream.h"
#include "greta/dump/huffman_gzip.h"
#include "greta/dump/logits_dump.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
// CPU time of this thread: on a shared machine it measures the work, not the wait for a core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Logit-like values: a sum of uniforms (~normal, sigma ~3) with full float32 mantissas, built
// from mt19937_64's raw output so the data are the same on every platform.
std::vector<float> make_logits(int64_t n) {
  std::mt19937_64 rng(42);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    double s = 0.0;
    for (int k = 0; k < 4; ++k) s += static_cast<double>(rng() >> 11) * 0x1.0p-53;
    x = static_cast<float>((s - 2.0) * 5.2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greta_bench_dump: logits dump write/read throughput (one thread)"};
  int64_t positions = 128, vocab = 32000;
  int reps = 3;
  bool sweep = false;
  std::string dir;
  app.add_option("--positions", positions, "dumped positions")->check(CLI::Range(1, 100000));
  app.add_option("--vocab", vocab, "logits per position")->check(CLI::Range(1, 10000000));
  app.add_option("--reps", reps, "repetitions (best is reported)")->check(CLI::Range(1, 100));
  app.add_option("--dir", dir, "dump directory (default: a temporary one)");
  app.add_flag("--sweep", sweep, "also time zlib deflate level/strategy pairs against HuffmanGzipWriter");
  CLI11_PARSE(app, argc, argv);
  try {
    bool own_dir = dir.empty();
    if (own_dir) {
      dir = (std::filesystem::temp_directory_path() / ("greta_bench_dump." + std::to_string(::getpid()))).string();
    }
    std::vector<float> logits = make_logits(positions * vocab);  // [positions, vocab] f32
    const double n = static_cast<double>(positions * vocab);

    double best_fmt = 1e30;
    std::string text;
    text.reserve(static_cast<size_t>(positions * vocab) * 16);  // no reallocation inside the timing
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      text.clear();
      for (int64_t i = 0; i < positions * vocab; ++i) {
        greta::dump::append_float(text, logits[static_cast<size_t>(i)]);
        text += ',';
      }
      best_fmt = std::min(best_fmt, seconds_since(t0));
    }
    std::printf("format only (to_chars):  %8.2f M logits/s  (%.1f bytes/logit of text)\n", n / best_fmt / 1e6,
                static_cast<double>(text.size()) / n);

    double best_write = 1e30, best_write_cpu = 1e30;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      double c0 = thread_cpu_seconds();
      greta::dump::DumpWriter w(dir);
      for (int64_t p = 0; p < positions; ++p) {
        w.add(1000 + p, static_cast<int32_t>(p), logits.data() + p * vocab, vocab);
      }
      greta::dump::DumpMetadata m;
      m.dtype = "bf16";
      m.mode = "prefill";
      m.span_start = 1000;
      m.span_count = positions;
      w.finish(m);
      best_write = std::min(best_write, seconds_since(t0));
      best_write_cpu = std::min(best_write_cpu, thread_cpu_seconds() - c0);
    }
    auto gz_bytes = std::filesystem::file_size(dir + "/logits.jsonl.gz");
    std::printf("DumpWriter (format+gzip+fsync+publish): %8.2f M logits/s  %.3f s for %lld x %lld  (%.2f MB gz, %.2f bytes/logit)\n",
                n / best_write / 1e6, best_write, static_cast<long long>(positions),
                static_cast<long long>(vocab), static_cast<double>(gz_bytes) / 1e6,
                static_cast<double>(gz_bytes) / n);
    std::printf("DumpWriter per CPU-second of its thread:  %8.2f M logits/s  (%.3f s CPU; target >= 10)\n",
                n / best_write_cpu / 1e6, best_write_cpu);

    auto t0 = Clock::now();
    greta::dump::Dump d = greta::dump::read_dump(dir);
    double t_read = seconds_since(t0);
    bool same = d.records.size() == static_cast<size_t>(positions);
    for (int64_t p = 0; same && p < positions; ++p) {
      same = std::memcmp(d.records[p].logits.data(), logits.data() + p * vocab, sizeof(float) * vocab) == 0;
    }
    std::printf("read_dump (gunzip+parse+validate):      %8.2f M logits/s  round trip bit-exact: %s\n",
                n / t_read / 1e6, same ? "yes" : "NO");

    if (sweep) {
      struct Setting { int level; int strategy; const char* name; };
      const Setting settings[] = {{1, Z_HUFFMAN_ONLY, "level 1 huffman-only"}, {1, Z_RLE, "level 1 rle"},
                                  {1, Z_DEFAULT_STRATEGY, "level 1 default"}, {6, Z_DEFAULT_STRATEGY, "level 6 default"}};
      {
        std::string path = dir + "/sweep.gz";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        auto t1 = Clock::now();
        greta::dump::HuffmanGzipWriter gz(fd, path);
        gz.write(text);
        gz.finish();
        double t = seconds_since(t1);
        ::close(fd);
        std::printf("  HuffmanGzipWriter (greta)      %8.2f M logits/s (compression alone)  %.2f bytes/logit\n", n / t / 1e6,
                    static_cast<double>(gz.compressed_bytes()) / n);
        std::filesystem::remove(path);
      }
      for (const Setting& s : settings) {
        std::string path = dir + "/sweep.gz";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        auto t1 = Clock::now();
        greta::dump::GzipWriter gz(fd, path, s.level, s.strategy);
        gz.write(text);
        gz.finish();
        double t = seconds_since(t1);
        ::close(fd);
        std::printf("  deflate %-22s %8.2f M logits/s (compression alone)  %.2f bytes/logit\n", s.name, n / t / 1e6,
                    static_cast<double>(gz.compressed_bytes()) / n);
        std::filesystem::remove(path);
      }
    }
    if (own_dir) std::filesystem::remove_all(dir);
    return same ? 0 : 1;
  } catch (const greta::Error& e) {
    std::fprintf(stderr, "greta_bench_dump: error: %s\n", e.what());
    return e.exit_code();
  }
}
