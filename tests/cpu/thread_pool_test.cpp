// ThreadPool: every task runs exactly once, on the thread the static partition names.

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "greta/core/thread_pool.h"

namespace greta {
namespace {

TEST(ThreadPool, EveryTaskExactlyOnceOnItsStaticThread) {
  for (int threads = 1; threads <= 5; ++threads) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.n_threads(), threads);
    for (int64_t n_tasks : {0, 1, 2, 3, 4, 5, 7, 8, 13, 31, 64, 100, 1000, 4097}) {
      std::vector<std::atomic<int>> count(static_cast<size_t>(n_tasks));
      std::vector<int> owner(static_cast<size_t>(n_tasks), -1);
      pool.run(n_tasks, [&](int64_t task, int thread) {
        count[task].fetch_add(1, std::memory_order_relaxed);
        owner[task] = thread;
      });
      for (int64_t i = 0; i < n_tasks; ++i) {
        ASSERT_EQ(count[i].load(), 1) << "task " << i << " of " << n_tasks << ", " << threads << " threads";
        if (n_tasks > 1) {
          // Thread t owns [t*n/T, (t+1)*n/T).
          int t = 0;
          while (!(i >= n_tasks * t / threads && i < n_tasks * (t + 1) / threads)) ++t;
          EXPECT_EQ(owner[i], t) << "task " << i << " of " << n_tasks << ", " << threads << " threads";
        }
      }
    }
  }
}

TEST(ThreadPool, ManySmallJobsBackToBack) {
  // Few jobs: with more threads than free cores every job waits for a descheduled spinner.
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::atomic<int64_t> total{0};
    for (int job = 0; job < 300; ++job)
      pool.run(job % 7, [&](int64_t task, int) { total.fetch_add(task + 1, std::memory_order_relaxed); });
    int64_t expected = 0;
    for (int job = 0; job < 300; ++job) expected += (job % 7) * (job % 7 + 1) / 2;
    EXPECT_EQ(total.load(), expected);
  }
}

}  // namespace
}  // namespace greta
