// ThreadPool: every task runs exactly once; concurrent tasks never share a thread index;
// run_on_each_thread runs once on every thread; late workers never touch a later job.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

#include "greta/core/thread_pool.h"

namespace greta {
namespace {

TEST(ThreadPool, EveryTaskExactlyOnceWithAValidThreadIndex) {
  for (int threads = 1; threads <= 5; ++threads) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.n_threads(), threads);
    for (int64_t n_tasks : {0, 1, 2, 3, 4, 5, 7, 8, 13, 31, 64, 100, 1000, 4097}) {
      std::vector<std::atomic<int>> count(static_cast<size_t>(n_tasks));
      std::vector<std::atomic<int>> busy(static_cast<size_t>(threads));
      std::atomic<int> clashes{0}, bad_index{0};
      pool.run(n_tasks, [&](int64_t task, int thread) {
        if (thread < 0 || thread >= threads) {
          bad_index.fetch_add(1);
          return;
        }
        // Per-thread scratch is safe: no other running task holds this index.
        if (busy[thread].fetch_add(1) != 0) clashes.fetch_add(1);
        count[task].fetch_add(1, std::memory_order_relaxed);
        busy[thread].fetch_sub(1);
      });
      EXPECT_EQ(bad_index.load(), 0);
      EXPECT_EQ(clashes.load(), 0);
      for (int64_t i = 0; i < n_tasks; ++i)
        ASSERT_EQ(count[i].load(), 1) << "task " << i << " of " << n_tasks << ", " << threads << " threads";
    }
  }
}

TEST(ThreadPool, RunOnEachThreadRunsOncePerThread) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> count(static_cast<size_t>(threads));
      pool.run_on_each_thread([&](int t) { count[t].fetch_add(1); });
      for (int t = 0; t < threads; ++t) ASSERT_EQ(count[t].load(), 1) << "thread " << t << ", rep " << rep;
      // Mixed with dynamic jobs of every size (including ones the workers may miss entirely).
      std::atomic<int64_t> total{0};
      pool.run(rep % 5, [&](int64_t task, int) { total.fetch_add(task + 1); });
      ASSERT_EQ(total.load(), (rep % 5) * (rep % 5 + 1) / 2);
    }
  }
}

TEST(ThreadPool, JobsNeverMixUnderOversubscription) {
  // More threads than cores: workers wake late and must not claim tasks of a later job (each
  // job's tasks write to that job's own array, checked right after run returns).
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads);
    for (int job = 0; job < 2000; ++job) {
      const int64_t n = job % 11;
      std::vector<int> hit(static_cast<size_t>(n), 0);
      pool.run(n, [&](int64_t task, int) { hit[task] += 1; });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hit[i], 1) << "job " << job << " task " << i;
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
