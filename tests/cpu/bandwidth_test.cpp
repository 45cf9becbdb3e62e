// The read-bandwidth probe of greta_bench (greta/cpu/bandwidth.h): all threads, a barrier-started
// pass re-read until it is long enough, the best pass reported.
#include <gtest/gtest.h>

#include <cmath>

#include "greta/core/thread_pool.h"
#include "greta/cpu/bandwidth.h"

namespace greta::cpu {
namespace {

TEST(Bandwidth, MeasuresAPositiveRateWithEveryThread) {
  EXPECT_GE(hardware_threads(), 1);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    double per_cpu = -1.0;
    const double gb_s = measure_read_bandwidth(pool, {.buffer_bytes = int64_t{24} << 20, .reps = 2, .min_pass_seconds = 0.01},
                                               &per_cpu);
    EXPECT_TRUE(std::isfinite(gb_s) && gb_s > 0.0) << gb_s;
    EXPECT_TRUE(std::isfinite(per_cpu) && per_cpu > 0.0) << per_cpu;
  }
}

}  // namespace
}  // namespace greta::cpu
