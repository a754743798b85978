// The SIMD operators' threads: persistent worker pools, one per thread count, shared by every op.
#pragma once

namespace catdog::kernels::simd {

class ThreadPool;

// One task of an op: task index in [0, n), `thread` in [0, size()) picks per-thread scratch.
using TaskFn = void (*)(void* ctx, int task, int thread);

// What an op holds: a process-wide pool per thread count, shared by every op (so a model with
// 2 threads has 1 worker thread, not one per layer). When another op, e.g. a second model on
// another thread, is using the pool, Run() does the work on the calling thread instead of
// waiting. Pools are never destroyed: workers sleep until the process exits. catdog::SetThreadCap
// (catdog.h) limits how many of a pool's threads take part in each Run, at run time.
class Workers {
 public:
  explicit Workers(int threads);
  int size() const;
  void Run(int n, TaskFn fn, void* ctx);

 private:
  ThreadPool* pool_ = nullptr;
};

}  // namespace catdog::kernels::simd
