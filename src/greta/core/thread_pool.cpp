#include "greta/core/thread_pool.h"

#include <chrono>

#include "greta/core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRETA_CPU_RELAX() _mm_pause()
#else
#define GRETA_CPU_RELAX() ((void)0)
#endif

namespace greta {

namespace {
// How long a worker spins for the next job before sleeping. Decode steps issue jobs every few
// microseconds; after a generation ends the workers fall asleep within ~a millisecond.
constexpr int kSpinIterations = 1 << 16;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  GRETA_ASSERT(n_threads >= 1);
  workers_.reserve(n_threads - 1);
  for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_share(int thread) {
  const int64_t n = n_tasks_;
  const int64_t begin = n * thread / n_threads_;
  const int64_t end = n * (thread + 1) / n_threads_;
  for (int64_t i = begin; i < end; ++i) (*fn_)(i, thread);
}

void ThreadPool::run(int64_t n_tasks, const TaskFn& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
    return;
  }
  fn_ = &fn;
  n_tasks_ = n_tasks;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex pairs with the sleepers' predicate check, so no wake-up is lost.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  run_share(0);
  // Spin briefly, then yield: with more threads than free cores a worker may be descheduled,
  // and spinning through our whole time slice would only delay it.
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < 1024) {
      GRETA_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  fn_ = nullptr;
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
      if (spin < 1024) {
        GRETA_CPU_RELAX();
      } else {
        std::this_thread::yield();  // let a descheduled thread of this job run first
      }
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1, std::memory_order_acq_rel);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    run_share(thread);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace greta
