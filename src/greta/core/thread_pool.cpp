#include "greta/core/thread_pool.h"

#include <algorithm>

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

constexpr int kIdxBits = 20;
constexpr uint64_t kIdxMask = (uint64_t{1} << kIdxBits) - 1;
constexpr int64_t kMaxTasksPerJob = static_cast<int64_t>(kIdxMask);  // n_tasks must fit 20 bits
constexpr int kStaticShift = 2 * kIdxBits;
constexpr int kGenShift = kStaticShift + 1;
constexpr uint64_t kGenMask = (uint64_t{1} << (64 - kGenShift)) - 1;

uint64_t word_gen(uint64_t w) { return w >> kGenShift; }
bool word_static(uint64_t w) { return ((w >> kStaticShift) & 1) != 0; }
int64_t word_n(uint64_t w) { return static_cast<int64_t>((w >> kIdxBits) & kIdxMask); }
int64_t word_next(uint64_t w) { return static_cast<int64_t>(w & kIdxMask); }

inline void relax_or_yield(int spin) {
  if (spin < 1024) {
    GRETA_CPU_RELAX();
  } else {
    // With more threads than free cores a peer may be descheduled; spinning through our whole
    // time slice would only delay it.
    std::this_thread::yield();
  }
}
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

void ThreadPool::publish(uint64_t word) {
  claim_.store(word, std::memory_order_release);
  {
    // Publishing under the mutex pairs with the sleepers' predicate check, so no wake-up is lost.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  ++n_jobs_;
}

int64_t ThreadPool::claim_and_run(uint64_t word, int thread) {
  // The CAS validates the whole word (generation, n, next), so a task is claimed only while its
  // job is the current one; once claimed, the job cannot complete before this task is counted,
  // so fn_ still points to this job's function.
  int64_t ran = 0;
  const TaskFn* fn = nullptr;
  const uint64_t gen = word_gen(word);
  for (;;) {
    const int64_t next = word_next(word);
    if (next >= word_n(word)) break;
    if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // word now holds the current value: another thread claimed a task (retry), or a later job
      // was published (stop: its tasks are not ours to count).
      if (word_gen(word) != gen || word_static(word)) break;
      continue;
    }
    if (fn == nullptr) fn = fn_.load(std::memory_order_relaxed);
    (*fn)(next, thread);
    ++ran;
    ++word;
  }
  return ran;
}

void ThreadPool::run(int64_t n_tasks, const TaskFn& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
    return;
  }
  if (n_tasks > kMaxTasksPerJob) {
    // Jobs this large are split into consecutive jobs; tasks keep their indices.
    for (int64_t base = 0; base < n_tasks; base += kMaxTasksPerJob) {
      const int64_t cnt = std::min(kMaxTasksPerJob, n_tasks - base);
      run(cnt, [&](int64_t t, int thread) { fn(base + t, thread); });
    }
    return;
  }
  fn_.store(&fn, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  job_gen_ = static_cast<uint32_t>((job_gen_ + 1) & kGenMask);
  const uint64_t word = (uint64_t{job_gen_} << kGenShift) | (static_cast<uint64_t>(n_tasks) << kIdxBits);
  publish(word);
  int64_t ran = claim_and_run(word, 0);
  if (ran > 0) done_.fetch_add(ran, std::memory_order_acq_rel);
  for (int spin = 0; done_.load(std::memory_order_acquire) != n_tasks; ++spin) relax_or_yield(spin);
  fn_.store(nullptr, std::memory_order_relaxed);
}

void ThreadPool::run_on_each_thread(const std::function<void(int thread)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  each_fn_.store(&fn, std::memory_order_relaxed);
  static_seq_.fetch_add(1, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  job_gen_ = static_cast<uint32_t>((job_gen_ + 1) & kGenMask);
  const uint64_t word = (uint64_t{job_gen_} << kGenShift) | (uint64_t{1} << kStaticShift);
  publish(word);
  fn(0);
  // Every worker runs this job (it cannot finish without them), so no worker can skip it.
  for (int spin = 0; done_.load(std::memory_order_acquire) != n_threads_ - 1; ++spin) relax_or_yield(spin);
  each_fn_.store(nullptr, std::memory_order_relaxed);
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  uint64_t last_static_seq = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
      relax_or_yield(spin);
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
    const uint64_t word = claim_.load(std::memory_order_acquire);
    if (word_static(word)) {
      // A static job waits for every worker, so the word read here is that job's, and so is
      // static_seq_ (published before the word; the next static job cannot start without us).
      const uint64_t seq = static_seq_.load(std::memory_order_relaxed);
      if (seq != last_static_seq) {
        last_static_seq = seq;
        (*each_fn_.load(std::memory_order_relaxed))(thread);
        done_.fetch_add(1, std::memory_order_acq_rel);
      }
      continue;
    }
    const int64_t ran = claim_and_run(word, thread);
    if (ran > 0) done_.fetch_add(ran, std::memory_order_acq_rel);
  }
}

}  // namespace greta
