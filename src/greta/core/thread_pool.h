#pragma once
// A fixed-size thread pool with dynamic task claiming.
//
// Determinism contract: run(n_tasks, fn) calls fn(task, thread) exactly once for every task in
// [0, n_tasks) and returns when all have finished. Which thread runs a task, and in which order
// tasks run, never influences results, because callers make every task write only its own
// outputs with a fixed operation order (a task is "rows [a, b) of a matmul", "head h", "KV
// chunk c", with boundaries that never depend on the thread count). `thread` is in
// [0, n_threads) and no two tasks that run at the same time get the same value, so it may index
// per-thread scratch memory; it must not influence any output.
//
// Scheduling: the threads (the caller is thread 0) claim tasks one at a time from a shared
// counter, so a thread that the OS has descheduled delays a job by at most the one task it has
// claimed, instead of by a fixed share of the job. The claim counter carries the job's
// generation, so a worker that wakes late can never claim a task of a later job; the caller
// waits for "tasks completed == n_tasks", not for every worker.
//
// run_on_each_thread(fn) is the static variant for measurements that need every thread:
// fn(thread) runs exactly once on each thread t in [0, n_threads).
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
  // PRECONDITIONS: not called re-entrantly from inside fn; one caller at a time.
  void run(int64_t n_tasks, const TaskFn& fn);

  // Runs fn(t) once on every thread t in [0, n_threads) (thread 0 is the caller).
  void run_on_each_thread(const std::function<void(int thread)>& fn);

  // Jobs that were handed to workers (run() calls with more than one task, on more than one
  // thread), since construction. For profiling.
  int64_t n_jobs() const { return n_jobs_; }

 private:
  void worker_loop(int thread);
  void publish(uint64_t word);
  // Claims and runs tasks of the job whose claim word is `word` until none is left; returns how
  // many it ran.
  int64_t claim_and_run(uint64_t word, int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<const TaskFn*> fn_{nullptr};
  std::atomic<const std::function<void(int)>*> each_fn_{nullptr};
  // Claim word: generation (23 bits) | static flag (1) | n_tasks (20) | next task (20).
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<uint64_t> static_seq_{0};  // run_on_each_thread calls so far (never wraps)
  uint32_t job_gen_ = 0;
  int64_t n_jobs_ = 0;
  std::atomic<uint64_t> generation_{0};  // wake-up signal only
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

}  // namespace greta
