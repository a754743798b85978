#include "simd/thread_pool.h"

#include "catdog/catdog.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define CATDOG_NO_THREADS 1
#endif

namespace catdog::kernels::simd {

// Persistent workers (threads - 1 of them; the caller is thread 0). Run() hands out task indices
// through an atomic counter and returns when all are done.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
#ifndef CATDOG_NO_THREADS
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { Work(t); });
#else
    (void)threads;
#endif
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  using Fn = TaskFn;
  // Runs fn on threads 0 .. use-1 of the pool (the workers above them wake and go back to
  // sleep), or returns false at once when another caller is using the pool.
  bool TryRun(int n, Fn fn, void* ctx, int use) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    Run(n, fn, ctx, use);
    return true;
  }

 private:
  void Run(int n, Fn fn, void* ctx, int use) {
    if (workers_.empty() || n <= 1 || use <= 1) {
      for (int i = 0; i < n; ++i) fn(ctx, i, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = fn;
      ctx_ = ctx;
      n_ = n;
      use_ = use;
      next_.store(0, std::memory_order_relaxed);
      active_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    cv_.notify_all();
    Drain(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return active_ == 0; });
  }

  void Drain(int thread) {
    for (int i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n_;) fn_(ctx_, i, thread);
  }
  void Work(int thread) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      if (thread < use_) Drain(thread);
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) done_cv_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one caller at a time
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int n_ = 0;
  int use_ = 0;  // threads taking part in this run (the cap, SetThreadCap)
  std::atomic<int> next_{0};
  int active_ = 0;
};

Workers::Workers(int threads) {
#ifndef CATDOG_NO_THREADS
  if (threads > 1) {
    static std::mutex mu;
    static std::vector<std::pair<int, ThreadPool*>> pools;
    std::lock_guard<std::mutex> lock(mu);
    for (auto& p : pools)
      if (p.first == threads) pool_ = p.second;
    if (!pool_) {
      pool_ = new ThreadPool(threads);  // deliberately leaked, see thread_pool.h
      pools.emplace_back(threads, pool_);
    }
  }
#else
  (void)threads;
#endif
}

int Workers::size() const { return pool_ ? pool_->size() : 1; }

namespace {
std::atomic<int> g_thread_cap{0};  // 0: no cap (catdog.h SetThreadCap)
}  // namespace

void Workers::Run(int n, TaskFn fn, void* ctx) {
  const int cap = g_thread_cap.load(std::memory_order_relaxed);
  const int use = cap > 0 && pool_ ? std::min(cap, pool_->size()) : size();
  if (pool_ && use > 1 && pool_->TryRun(n, fn, ctx, use)) return;
  for (int i = 0; i < n; ++i) fn(ctx, i, 0);
}

}  // namespace catdog::kernels::simd

namespace catdog {

bool SetThreadCap(int threads) {
  if (threads < 0 || threads > 64) return false;
  kernels::simd::g_thread_cap.store(threads, std::memory_order_relaxed);
  return true;
}

int ThreadCap() { return kernels::simd::g_thread_cap.load(std::memory_order_relaxed); }

}  // namespace catdog
