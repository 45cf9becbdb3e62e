#pragma once
// A fixed-size thread pool with static work partitioning.
//
// Determinism contract: run(n_tasks, fn) calls fn(task, thread) exactly once for every task in
// [0, n_tasks). Which thread runs a task never influences results, because callers make every
// task write its own outputs with a fixed operation order (a task is "rows [a, b) of a matmul",
// "head h", "KV chunk c", with boundaries that never depend on the thread count). Thread t gets
// the contiguous block of tasks [t*n/T, (t+1)*n/T), so the partitioning is static, too.
//
// Workers spin briefly between jobs (decode issues hundreds of small jobs per token) and then
// sleep on a condition variable, so an idle pool costs no CPU.
//
// The pool is passed down explicitly (a context object), never held globally.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace greta {

class ThreadPool {
 public:
  using TaskFn = std::function<void(int64_t task, int thread)>;

  // n_threads >= 1; the calling thread is thread 0, so n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Runs fn for every task in [0, n_tasks) and returns when all are done.
  // PRECONDITIONS: not called re-entrantly from inside fn.
  void run(int64_t n_tasks, const TaskFn& fn);

 private:
  void worker_loop(int thread);
  void run_share(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  const TaskFn* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

}  // namespace greta
