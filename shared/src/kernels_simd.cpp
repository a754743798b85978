// The SIMD operators: weight packing (once, at Make*), buffers, row scheduling and threads.
// The arithmetic lives in the per-ISA microkernels (kernels_simd_impl.h); this file is compiled
// with the target's default flags and picks the best ISA table the CPU supports at start-up.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernels.h"
#include "kernels_simd.h"
#include "kernels_simd_ops.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define CATDOG_NO_THREADS 1
#endif

namespace catdog::kernels {
namespace simd {

// ---- ISA selection ------------------------------------------------------------------------------
// This file is compiled with the target's baseline flags. The per-ISA files are compiled with
// higher ones, so their code (the getters included: building a table zeroes a struct with
// AVX-512 stores) may run only after the CPU check; the list below is plain data.

bool CpuSupports(CpuNeed need) {
  switch (need) {
    case CpuNeed::kBaseline:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case CpuNeed::kAvx2Fma:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuNeed::kAvx512f:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f");
#endif
    default:
      return false;
  }
}

namespace {
// CATDOG_ISA_<X> is defined by shared/CMakeLists.txt exactly when kernels_simd_<x>.cpp is built.
constexpr IsaEntry kCompiled[] = {
#if defined(CATDOG_SIMD) && defined(CATDOG_ISA_AVX512)
    IsaEntry{"avx512", "avx512f", CpuNeed::kAvx512f, &IsaAvx512<kIsaAbi>},
#endif
#if defined(CATDOG_SIMD) && defined(CATDOG_ISA_AVX2)
    IsaEntry{"avx2", "avx2 fma", CpuNeed::kAvx2Fma, &IsaAvx2<kIsaAbi>},
#endif
#if defined(CATDOG_SIMD)
#if defined(__x86_64__) || defined(__i386__)
    IsaEntry{"sse2", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#elif defined(__aarch64__) && defined(__ARM_NEON)  // as vec.h: arm64's baseline NEON
    IsaEntry{"neon", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#elif defined(__wasm_simd128__)
    IsaEntry{"wasm", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#else
    IsaEntry{"scalar", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#endif
#endif
    IsaEntry{nullptr, nullptr, CpuNeed::kBaseline, nullptr},  // keeps the array non-empty
};
constexpr int kNumCompiled = static_cast<int>(sizeof(kCompiled) / sizeof(kCompiled[0])) - 1;
}  // namespace

const IsaEntry* CompiledIsas(int* count) {
  *count = kNumCompiled;
  return kCompiled;
}

ConvAlgo DefaultConvAlgo() {
  static const ConvAlgo algo = [] {
    const char* v = std::getenv("CATDOG_CONV");
    if (v && std::strcmp(v, "direct") == 0) return ConvAlgo::kDirect;
    if (v && std::strcmp(v, "winograd") == 0) return ConvAlgo::kWinograd;
    return ConvAlgo::kAuto;
  }();
  return algo;
}

const char* IsaProblem(const Isa& isa) {
  if (!isa.name || isa.width <= 0) return "no name or vector width";
  for (const int nv : {isa.conv_nv, isa.c1_nv, isa.dense_nv})
    if (nv < 1 || nv > kMaxNv) return "channel block (conv_nv, c1_nv or dense_nv) out of 1..kMaxNv";
  for (int nv = 1; nv <= kMaxNv; ++nv) {
    if (isa.mr[nv] < 1 || isa.mr[nv] > kMaxMr) return "mr[nv] out of 1..kMaxMr";
    if (nv > 1 && isa.mr[nv] > isa.mr[nv - 1]) return "mr[nv] grows with nv";
    for (int m = 1; m <= isa.mr[nv]; ++m)
      if (!isa.tile[nv][m]) return "tile[nv][m] missing for an m <= mr[nv]";
  }
  if (!isa.pool2 || !isa.wino_in || !isa.wino_out) return "pool2 or a Winograd transform missing";
  if (!isa.dw3x3 || !isa.dw) return "a depthwise row kernel missing";
  return nullptr;
}

std::vector<const Isa*> AvailableIsas() {
  std::vector<const Isa*> out;
  int n = 0;
  const IsaEntry* entries = CompiledIsas(&n);
  for (int i = 0; i < n; ++i) {
    if (!CpuSupports(entries[i].need)) continue;  // before get(): get() runs that ISA's code
    const Isa* isa = entries[i].get();
    if (isa && !IsaProblem(*isa)) out.push_back(isa);
  }
  return out;
}

namespace {
struct Selection {
  const Isa* isa = nullptr;
  std::string why;
  bool override_ignored = false;
};
const Selection& Selected() {
  static const Selection sel = [] {
    Selection s;
    const std::vector<const Isa*> all = AvailableIsas();
    if (all.empty()) {
      s.why = "no SIMD kernels in this build (CATDOG_SIMD off)";
      return s;
    }
    s.isa = all.front();
    s.why = "best the CPU supports";
    // CATDOG_ISA=avx2|sse2|... picks another runnable table (benchmarks, debugging).
    if (const char* want = std::getenv("CATDOG_ISA"); want && *want) {
      const Isa* hit = nullptr;
      for (const Isa* isa : all)
        if (std::strcmp(isa->name, want) == 0) hit = isa;
      if (hit) {
        s.isa = hit;
        s.why = std::string("CATDOG_ISA=") + want;
      } else {
        int n = 0;
        const IsaEntry* entries = CompiledIsas(&n);
        const IsaEntry* entry = nullptr;
        for (int i = 0; i < n; ++i)
          if (std::strcmp(entries[i].name, want) == 0) entry = &entries[i];
        s.override_ignored = true;
        s.why = std::string("CATDOG_ISA=") + want + " ignored (" +
                (entry ? std::string("this CPU lacks ") + entry->cpu_flags : std::string("not compiled into this build")) +
                "); best the CPU supports";
      }
    }
    return s;
  }();
  return sel;
}
}  // namespace

const Isa* BestIsa() { return Selected().isa; }

std::string DescribeIsa(bool* override_ignored) {
  const Selection& sel = Selected();
  if (override_ignored) *override_ignored = sel.override_ignored;
  std::string out = std::string("simd kernels: ") + (sel.isa ? sel.isa->name : "none") + " (" + sel.why + ")";
  int n = 0;
  const IsaEntry* entries = CompiledIsas(&n);
  out += "; compiled:";
  for (int i = 0; i < n; ++i) {
    out += std::string(" ") + entries[i].name;
    if (*entries[i].cpu_flags) out += CpuSupports(entries[i].need) ? "" : std::string(" (CPU lacks ") + entries[i].cpu_flags + ")";
  }
  if (n == 0) out += " none";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  out += "; CPU reports:";
  const std::pair<const char*, bool> flags[] = {
      {"sse4.2", __builtin_cpu_supports("sse4.2")}, {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},     {"fma", __builtin_cpu_supports("fma")},
      {"avx512f", __builtin_cpu_supports("avx512f")}};
  for (const auto& f : flags) out += std::string(" ") + (f.second ? "" : "-") + f.first;
#endif
  return out;
}

// ---- thread pool ----------------------------------------------------------------------------------
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

  using Fn = void (*)(void* ctx, int task, int thread);
  // Runs fn on all threads, or returns false at once when another caller is using the pool.
  bool TryRun(int n, Fn fn, void* ctx) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    Run(n, fn, ctx);
    return true;
  }

 private:
  void Run(int n, Fn fn, void* ctx) {
    if (workers_.empty() || n <= 1) {
      for (int i = 0; i < n; ++i) fn(ctx, i, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = fn;
      ctx_ = ctx;
      n_ = n;
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
      Drain(thread);
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
  std::atomic<int> next_{0};
  int active_ = 0;
};

// What an op holds: a process-wide pool per thread count, shared by every op (so a model with
// 2 threads has 1 worker thread, not one per layer). When another op, e.g. a second model on
// another thread, is using the pool, Run() does the work on the calling thread instead of
// waiting. Pools are never destroyed: workers sleep until the process exits.
class Workers {
 public:
  explicit Workers(int threads) {
#ifndef CATDOG_NO_THREADS
    if (threads > 1) {
      static std::mutex mu;
      static std::vector<std::pair<int, ThreadPool*>> pools;
      std::lock_guard<std::mutex> lock(mu);
      for (auto& p : pools)
        if (p.first == threads) pool_ = p.second;
      if (!pool_) {
        pool_ = new ThreadPool(threads);  // deliberately leaked, see above
        pools.emplace_back(threads, pool_);
      }
    }
#else
    (void)threads;
#endif
  }
  int size() const { return pool_ ? pool_->size() : 1; }
  void Run(int n, ThreadPool::Fn fn, void* ctx) {
    if (pool_ && pool_->TryRun(n, fn, ctx)) return;
    for (int i = 0; i < n; ++i) fn(ctx, i, 0);
  }

 private:
  ThreadPool* pool_ = nullptr;
};

namespace {

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Weights [K][out_c] (HWIO flattened, or Dense [in][out]) packed into blocks of nv vectors of
// output channels, each [K][nv * W], zero padded past out_c.
struct PackedWeights {
  struct Block {
    int oc0 = 0, nv = 0;
    size_t offset = 0;  // into w
  };
  std::vector<float> w, bias;  // bias: oc_pad floats
  std::vector<Block> blocks;
  int oc_pad = 0;
};

PackedWeights Pack(const Isa& isa, size_t k, int out_c, const float* w, const float* bias, int nv_max) {
  PackedWeights p;
  const int W = isa.width;
  for (int oc0 = 0; oc0 < out_c; oc0 += nv_max * W) {
    PackedWeights::Block b;
    b.oc0 = oc0;
    b.nv = std::min(nv_max, CeilDiv(out_c - oc0, W));
    b.offset = p.w.size();
    const int cols = b.nv * W;
    p.w.resize(p.w.size() + k * cols, 0.0f);
    float* dst = p.w.data() + b.offset;
    for (size_t kk = 0; kk < k; ++kk)
      for (int j = 0; j < cols && oc0 + j < out_c; ++j) dst[kk * cols + j] = w[kk * out_c + oc0 + j];
    p.blocks.push_back(b);
    p.oc_pad += cols;
  }
  p.bias.assign(p.oc_pad, 0.0f);
  if (bias) std::copy(bias, bias + out_c, p.bias.begin());
  return p;
}

// A ChannelAffine copied into arrays of `pad` floats (lanes past `n` get 0 * 0 + 0).
struct PackedAffine {
  std::vector<float> sub, mul, add;
  void Set(const ChannelAffine& a, int n, int pad) {
    if (!a.active()) return;
    sub.assign(pad, 0.0f);
    mul.assign(pad, 0.0f);
    add.assign(pad, 0.0f);
    std::copy(a.sub, a.sub + n, sub.begin());
    std::copy(a.mul, a.mul + n, mul.begin());
    std::copy(a.add, a.add + n, add.begin());
  }
  bool active() const { return !mul.empty(); }
  const float* sub_at(int i) const { return active() ? sub.data() + i : nullptr; }
  const float* mul_at(int i) const { return active() ? mul.data() + i : nullptr; }
  const float* add_at(int i) const { return active() ? add.data() + i : nullptr; }
};

// ---- Conv2D ----------------------------------------------------------------------------------------
class ConvOp final : public Op {
 public:
  ConvOp(const Isa& isa, const ConvDesc& d, const float* w, const float* bias, int threads, const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    const int nv = std::min(d.in_c == 1 ? isa.c1_nv : isa.conv_nv, CeilDiv(d.out_c, isa.width));
    packed_ = Pack(isa, static_cast<size_t>(d.kh) * d.kw * d.in_c, d.out_c, w, bias, nv);
    post_.Set(post, d.out_c, packed_.oc_pad);
    hp_ = d.in_h + d.pad_top + d.pad_bottom;
    wp_ = d.in_w + d.pad_left + d.pad_right;
    padded_ = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right;
    for (int y = 0; y < d.kh; ++y)
      for (int x = 0; x < d.kw; ++x)
        tap_off_.push_back((static_cast<ptrdiff_t>(y) * d.dil_h * wp_ + static_cast<ptrdiff_t>(x) * d.dil_w) * d.in_c);
    rowbuf_.resize(pool_.size());
    for (auto& r : rowbuf_) r.resize(static_cast<size_t>(2) * d.out_w * packed_.oc_pad);
    name_ = "f32_conv" + std::to_string(d.kh) + "x" + std::to_string(d.kw);
    if (d.stride_h != 1 || d.stride_w != 1) name_ += "_s" + std::to_string(d.stride_h) + "x" + std::to_string(d.stride_w);
    if (d.dil_h != 1 || d.dil_w != 1) name_ += "_d" + std::to_string(d.dil_h) + "x" + std::to_string(d.dil_w);
    name_ += d.in_c == 1 ? "_c1_direct" : "_igemm";
    name_ += std::string("__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" + std::to_string(nv * isa.width);
    if (post.active()) name_ += "_affine";
    if (d.fuse_maxpool2) name_ += "_pool2";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    if (padded_) {
      const size_t per = static_cast<size_t>(hp_) * wp_ * d_.in_c;
      if (padbuf_.size() < per * batch) padbuf_.assign(per * batch, 0.0f);  // borders stay zero
      const size_t row = static_cast<size_t>(d_.in_w) * d_.in_c;
      for (int b = 0; b < batch; ++b)
        for (int y = 0; y < d_.in_h; ++y)
          std::memcpy(padbuf_.data() + b * per + ((static_cast<size_t>(y) + d_.pad_top) * wp_ + d_.pad_left) * d_.in_c,
                      in + (static_cast<size_t>(b) * d_.in_h + y) * row, row * sizeof(float));
      src_ = padbuf_.data();
    }
    dst_ = out;
    pool_.Run(batch * d_.final_h(), &ConvOp::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int thread) { static_cast<ConvOp*>(self)->Row(task, thread); }

  // One output row (one pooled row: two conv rows) of one sample.
  void Row(int task, int thread) {
    const int fh = d_.final_h(), fw = d_.final_w();
    const int b = task / fh, r = task % fh;
    const float* x = src_ + static_cast<size_t>(b) * hp_ * wp_ * d_.in_c;
    float* y = dst_ + static_cast<size_t>(b) * fh * fw * d_.out_c;
    const bool pool = d_.fuse_maxpool2;
    const bool direct = !pool && packed_.oc_pad == d_.out_c;
    float* rb = rowbuf_[thread].data();
    const int nconv = pool ? 2 : 1;
    for (int j = 0; j < nconv; ++j) {
      const int oh = pool ? 2 * r + j : r;
      float* tgt = direct ? y + static_cast<size_t>(oh) * d_.out_w * d_.out_c
                          : rb + static_cast<size_t>(j) * d_.out_w * packed_.oc_pad;
      const size_t ldc = direct ? d_.out_c : packed_.oc_pad;
      const float* xrow = x + static_cast<size_t>(oh) * d_.stride_h * wp_ * d_.in_c;
      for (const auto& blk : packed_.blocks) {
        const int mr = isa_.mr[blk.nv];
        simd::TileArgs t{};
        const float* a[kMaxMr];
        t.a = a;
        t.tap_off = tap_off_.data();
        t.ntaps = static_cast<int>(tap_off_.size());
        t.cin = d_.in_c;
        t.w = packed_.w.data() + blk.offset;
        t.bias = packed_.bias.data() + blk.oc0;
        t.lo = d_.clamp_min;
        t.hi = d_.clamp_max;
        t.ldc = ldc;
        t.post_sub = post_.sub_at(blk.oc0);
        t.post_mul = post_.mul_at(blk.oc0);
        t.post_add = post_.add_at(blk.oc0);
        for (int ow0 = 0; ow0 < d_.out_w; ow0 += mr) {
          const int m = std::min(mr, d_.out_w - ow0);
          for (int p = 0; p < m; ++p) a[p] = xrow + static_cast<size_t>(ow0 + p) * d_.stride_w * d_.in_c;
          t.c = tgt + static_cast<size_t>(ow0) * ldc + blk.oc0;
          isa_.tile[blk.nv][m](t);
        }
      }
    }
    if (pool) {
      isa_.pool2(rb, rb + static_cast<size_t>(d_.out_w) * packed_.oc_pad, packed_.oc_pad, fw, d_.out_c,
                 y + static_cast<size_t>(r) * fw * d_.out_c);
    } else if (!direct) {
      float* yr = y + static_cast<size_t>(r) * d_.out_w * d_.out_c;
      for (int p = 0; p < d_.out_w; ++p)
        std::memcpy(yr + static_cast<size_t>(p) * d_.out_c, rb + static_cast<size_t>(p) * packed_.oc_pad,
                    d_.out_c * sizeof(float));
    }
  }

  const Isa& isa_;
  ConvDesc d_;
  Workers pool_;
  PackedWeights packed_;
  PackedAffine post_;
  std::vector<ptrdiff_t> tap_off_;
  int hp_ = 0, wp_ = 0;
  bool padded_ = false;
  std::vector<float> padbuf_;
  std::vector<std::vector<float>> rowbuf_;  // per thread: two conv rows, oc_pad channels
  std::string name_;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
};

// ---- Conv2D 3x3 stride 1 via Winograd F(2x2, 3x3) ------------------------------------------------------
// Each 2x2 block of outputs is computed from a 4x4 input tile with 16 multiplies per
// (input, output) channel pair instead of 36: input transform V = B^T d B (per tile, vectorized
// over input channels), 16 independent GEMMs M[xi] = V[xi] x U[xi] on the same microkernels
// as the direct path (U = G g G^T packed at creation), output transform Y = A^T M A fused with
// bias, clamp and the 2x2 max-pool (a tile's outputs are exactly one pool window).
class WinogradOp final : public Op {
 public:
  WinogradOp(const Isa& isa, const ConvDesc& d, const float* w, const float* bias, int threads,
             const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    const int W = isa.width;
    cin_pad_ = CeilDiv(d.in_c, W) * W;
    const int nv = std::min(isa.conv_nv, CeilDiv(d.out_c, W));
    // U[xi][ic][oc] = (G g G^T)[xi] with G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; rows ic >= in_c zero.
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    std::vector<float> u(16 * static_cast<size_t>(cin_pad_) * d.out_c, 0.0f);
    for (int ic = 0; ic < d.in_c; ++ic)
      for (int oc = 0; oc < d.out_c; ++oc) {
        double g[3][3];
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) g[a][b] = w[((static_cast<size_t>(a) * 3 + b) * d.in_c + ic) * d.out_c + oc];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            double acc = 0;
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b) acc += G[i][a] * g[a][b] * G[j][b];
            u[((static_cast<size_t>(4 * i + j) * cin_pad_) + ic) * d.out_c + oc] = static_cast<float>(acc);
          }
      }
    for (int xi = 0; xi < 16; ++xi)
      packed_[xi] = Pack(isa, cin_pad_, d.out_c, u.data() + static_cast<size_t>(xi) * cin_pad_ * d.out_c, nullptr, nv);
    oc_pad_ = packed_[0].oc_pad;
    bias_.assign(oc_pad_, 0.0f);
    if (bias) std::copy(bias, bias + d.out_c, bias_.begin());
    zeros_.assign(oc_pad_, 0.0f);
    post_.Set(post, d.out_c, oc_pad_);
    const bool pool = d.fuse_maxpool2;
    th_ = pool ? d.out_h / 2 : CeilDiv(d.out_h, 2);
    tw_ = pool ? d.out_w / 2 : CeilDiv(d.out_w, 2);
    hb_ = 2 * th_ + 2;
    wb_ = 2 * tw_ + 2;
    // Tiles read rows/columns up to 2*t+3: copy into a zero-bordered buffer unless the input
    // itself has them (valid padding, pooled or even output).
    copy_ = d.pad_top || d.pad_left || d.pad_bottom || d.pad_right || hb_ > d.in_h || wb_ > d.in_w;
    vs_ = static_cast<size_t>(tw_) * cin_pad_;
    ms_ = static_cast<size_t>(tw_) * oc_pad_;
    vbuf_.resize(pool_.size());
    mbuf_.resize(pool_.size());
    for (auto& v : vbuf_) v.resize(16 * vs_);
    for (auto& m : mbuf_) m.resize(16 * ms_);
    name_ = std::string("f32_conv3x3_winograd2x2__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" +
            std::to_string(nv * W);
    if (post.active()) name_ += "_affine";
    if (pool) name_ += "_pool2";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  static bool Supports(const ConvDesc& d) {
    return d.kh == 3 && d.kw == 3 && d.stride_h == 1 && d.stride_w == 1 && d.dil_h == 1 && d.dil_w == 1;
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    row_stride_ = static_cast<size_t>(d_.in_w) * d_.in_c;
    if (copy_) {
      const size_t per = static_cast<size_t>(hb_) * wb_ * d_.in_c;
      if (padbuf_.size() < per * batch) padbuf_.assign(per * batch, 0.0f);  // borders stay zero
      const int rows = std::min(d_.in_h, hb_ - d_.pad_top), cols = std::min(d_.in_w, wb_ - d_.pad_left);
      for (int b = 0; b < batch; ++b)
        for (int y = 0; y < rows; ++y)
          std::memcpy(padbuf_.data() + b * per + ((static_cast<size_t>(y) + d_.pad_top) * wb_ + d_.pad_left) * d_.in_c,
                      in + ((static_cast<size_t>(b) * d_.in_h + y) * d_.in_w) * d_.in_c,
                      static_cast<size_t>(cols) * d_.in_c * sizeof(float));
      src_ = padbuf_.data();
      row_stride_ = static_cast<size_t>(wb_) * d_.in_c;
    }
    src_batch_stride_ = copy_ ? static_cast<size_t>(hb_) * wb_ * d_.in_c : static_cast<size_t>(d_.in_h) * d_.in_w * d_.in_c;
    dst_ = out;
    pool_.Run(batch * th_, &WinogradOp::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int thread) { static_cast<WinogradOp*>(self)->Row(task, thread); }

  void Row(int task, int thread) {
    const int b = task / th_, r = task % th_;
    float* v = vbuf_[thread].data();
    float* m = mbuf_[thread].data();
    isa_.wino_in(src_ + b * src_batch_stride_ + 2 * r * row_stride_, row_stride_, d_.in_c, cin_pad_, tw_, v, vs_);
    const float* a[kMaxMr];
    simd::TileArgs t{};
    t.a = a;
    t.tap_off = &zero_;
    t.ntaps = 1;
    t.cin = cin_pad_;
    t.lo = -kInf;
    t.hi = kInf;
    t.ldc = oc_pad_;
    for (int xi = 0; xi < 16; ++xi) {
      const PackedWeights& u = packed_[xi];
      for (const auto& blk : u.blocks) {
        const int mr = isa_.mr[blk.nv];
        t.w = u.w.data() + blk.offset;
        t.bias = zeros_.data() + blk.oc0;
        for (int t0 = 0; t0 < tw_; t0 += mr) {
          const int n = std::min(mr, tw_ - t0);
          for (int p = 0; p < n; ++p) a[p] = v + xi * vs_ + static_cast<size_t>(t0 + p) * cin_pad_;
          t.c = m + xi * ms_ + static_cast<size_t>(t0) * oc_pad_ + blk.oc0;
          isa_.tile[blk.nv][n](t);
        }
      }
    }
    const int fh = d_.final_h(), fw = d_.final_w();
    float* y = dst_ + static_cast<size_t>(b) * fh * fw * d_.out_c;
    if (d_.fuse_maxpool2) {
      isa_.wino_out(m, ms_, d_.out_c, oc_pad_, tw_, bias_.data(), d_.clamp_min, d_.clamp_max, post_.sub_at(0),
                    post_.mul_at(0), post_.add_at(0), true, 1, fw,
                    y + static_cast<size_t>(r) * fw * d_.out_c, nullptr);
    } else {
      const int rows = std::min(2, d_.out_h - 2 * r);
      float* y0 = y + static_cast<size_t>(2 * r) * d_.out_w * d_.out_c;
      isa_.wino_out(m, ms_, d_.out_c, oc_pad_, tw_, bias_.data(), d_.clamp_min, d_.clamp_max, post_.sub_at(0),
                    post_.mul_at(0), post_.add_at(0), false, rows, d_.out_w,
                    y0, y0 + static_cast<size_t>(d_.out_w) * d_.out_c);
    }
  }

  const Isa& isa_;
  ConvDesc d_;
  Workers pool_;
  PackedWeights packed_[16];
  PackedAffine post_;
  std::vector<float> bias_, zeros_;
  int cin_pad_ = 0, oc_pad_ = 0, th_ = 0, tw_ = 0, hb_ = 0, wb_ = 0;
  bool copy_ = false;
  size_t vs_ = 0, ms_ = 0;
  std::vector<std::vector<float>> vbuf_, mbuf_;  // per thread: V and M planes of one tile row
  std::vector<float> padbuf_;
  std::string name_;
  const ptrdiff_t zero_ = 0;
  const float* src_ = nullptr;
  size_t row_stride_ = 0, src_batch_stride_ = 0;
  float* dst_ = nullptr;
};

// ---- Dense -----------------------------------------------------------------------------------------
class DenseOp final : public Op {
 public:
  DenseOp(const Isa& isa, const DenseDesc& d, const float* w, const float* bias, int threads)
      : isa_(isa), d_(d), pool_(threads) {
    const int nv = std::min(isa.dense_nv, CeilDiv(d.out, isa.width));
    packed_ = Pack(isa, static_cast<size_t>(d.in), d.out, w, bias, nv);
    name_ = std::string("f32_dense__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" +
            std::to_string(nv * isa.width);
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }
  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    dst_ = out;
    batch_ = batch;
    const int mr = isa_.mr[packed_.blocks.front().nv];
    row_tiles_ = CeilDiv(batch, mr);
    pool_.Run(row_tiles_ * static_cast<int>(packed_.blocks.size()), &DenseOp::Task, this);
  }

 private:
  static void Task(void* self, int task, int) { static_cast<DenseOp*>(self)->Tile(task); }

  // One tile: up to mr batch rows x one block of output channels. Narrower blocks allow at
  // least as many rows as the widest (mr shrinks as nv grows), so one row split serves all.
  void Tile(int task) {
    const auto& blk = packed_.blocks[task / row_tiles_];
    const int mr = isa_.mr[packed_.blocks.front().nv];
    const int b0 = (task % row_tiles_) * mr;
    const int m = std::min(mr, batch_ - b0);
    const int cols = blk.nv * isa_.width;
    const bool direct = blk.oc0 + cols <= d_.out;
    const float* a[kMaxMr];
    for (int p = 0; p < m; ++p) a[p] = src_ + static_cast<size_t>(b0 + p) * d_.in;
    float tmp[kMaxMr * kMaxNv * 16];
    simd::TileArgs t{};
    t.a = a;
    t.tap_off = &zero_;
    t.ntaps = 1;
    t.cin = d_.in;
    t.w = packed_.w.data() + blk.offset;
    t.bias = packed_.bias.data() + blk.oc0;
    t.lo = d_.clamp_min;
    t.hi = d_.clamp_max;
    float* y = dst_ + static_cast<size_t>(b0) * d_.out + blk.oc0;
    t.c = direct ? y : tmp;
    t.ldc = direct ? d_.out : cols;
    isa_.tile[blk.nv][m](t);
    if (!direct)
      for (int p = 0; p < m; ++p)
        std::memcpy(y + static_cast<size_t>(p) * d_.out, tmp + p * cols, (d_.out - blk.oc0) * sizeof(float));
  }

  const Isa& isa_;
  DenseDesc d_;
  Workers pool_;
  PackedWeights packed_;
  std::string name_;
  const ptrdiff_t zero_ = 0;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
  int batch_ = 0, row_tiles_ = 0;
};

// ---- depthwise convolution (depth_multiplier 1) ---------------------------------------------------
// Weights repacked to [kh * kw][ch_pad] so every tap's channel vector is aligned to the table's
// width; one task per output row; padding handled by the row kernel (no copy of the input).
class DepthwiseOp final : public Op {
 public:
  DepthwiseOp(const Isa& isa, const DepthwiseDesc& d, const float* w, const float* bias, int threads,
              const ChannelAffine& post)
      : isa_(isa), d_(d), pool_(threads) {
    ch_pad_ = static_cast<size_t>(CeilDiv(d.channels, isa.width)) * isa.width;
    const size_t taps = static_cast<size_t>(d.kh) * d.kw;
    w_.assign(taps * ch_pad_, 0.0f);
    for (size_t t = 0; t < taps; ++t) std::copy(w + t * d.channels, w + (t + 1) * d.channels, w_.begin() + t * ch_pad_);
    bias_.assign(ch_pad_, 0.0f);
    if (bias) std::copy(bias, bias + d.channels, bias_.begin());
    post_.Set(post, d.channels, static_cast<int>(ch_pad_));
    k3_ = d.kh == 3 && d.kw == 3;
    name_ = "f32_dwconv" + std::to_string(d.kh) + "x" + std::to_string(d.kw);
    if (d.stride_h != 1 || d.stride_w != 1) name_ += "_s" + std::to_string(d.stride_h) + "x" + std::to_string(d.stride_w);
    name_ += std::string("__") + isa.name + "_" + std::to_string(isa.width);
    if (post.active()) name_ += "_affine";
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }

  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    dst_ = out;
    pool_.Run(batch * d_.out_h, &DepthwiseOp::RowTask, this);
  }

 private:
  static void RowTask(void* self, int task, int) { static_cast<DepthwiseOp*>(self)->Row(task); }

  void Row(int task) {
    const int b = task / d_.out_h, oy = task % d_.out_h;
    const size_t row = static_cast<size_t>(d_.in_w) * d_.channels;
    const float* x = src_ + static_cast<size_t>(b) * d_.in_h * row;
    const float* rows[kMaxTaps];
    for (int ky = 0; ky < d_.kh; ++ky) {
      const int iy = oy * d_.stride_h - d_.pad_top + ky;
      rows[ky] = iy >= 0 && iy < d_.in_h ? x + static_cast<size_t>(iy) * row : nullptr;
    }
    simd::DwArgs a{};
    a.rows = rows;
    a.kh = d_.kh;
    a.kw = d_.kw;
    a.sw = d_.stride_w;
    a.pad_left = d_.pad_left;
    a.in_w = d_.in_w;
    a.out_w = d_.out_w;
    a.ch = d_.channels;
    a.ch_pad = ch_pad_;
    a.w = w_.data();
    a.bias = bias_.data();
    a.lo = d_.clamp_min;
    a.hi = d_.clamp_max;
    a.post_sub = post_.sub_at(0);
    a.post_mul = post_.mul_at(0);
    a.post_add = post_.add_at(0);
    a.out = dst_ + (static_cast<size_t>(b) * d_.out_h + oy) * d_.out_w * d_.channels;
    (k3_ ? isa_.dw3x3 : isa_.dw)(a);
  }

 public:
  static constexpr int kMaxTaps = 64;  // kh limit of the row-pointer array

 private:
  const Isa& isa_;
  DepthwiseDesc d_;
  Workers pool_;
  size_t ch_pad_ = 0;
  std::vector<float> w_, bias_;
  PackedAffine post_;
  bool k3_ = false;
  std::string name_;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
};

bool DepthwiseSupported(const DepthwiseDesc& d) {
  if (d.in_h <= 0 || d.in_w <= 0 || d.channels <= 0 || d.mult != 1 || d.kh <= 0 || d.kw <= 0) return false;
  if (d.kh > DepthwiseOp::kMaxTaps || d.stride_h <= 0 || d.stride_w <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  const int eh = d.in_h + d.pad_top + d.pad_bottom - (d.kh - 1);
  const int ew = d.in_w + d.pad_left + d.pad_right - (d.kw - 1);
  if (eh <= 0 || ew <= 0) return false;
  return d.out_h == (eh - 1) / d.stride_h + 1 && d.out_w == (ew - 1) / d.stride_w + 1;
}

bool ConvSupported(const ConvDesc& d) {
  if (d.in_h <= 0 || d.in_w <= 0 || d.in_c <= 0 || d.out_c <= 0 || d.kh <= 0 || d.kw <= 0) return false;
  if (d.stride_h <= 0 || d.stride_w <= 0 || d.dil_h <= 0 || d.dil_w <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  const int eh = d.in_h + d.pad_top + d.pad_bottom - d.dil_h * (d.kh - 1);
  const int ew = d.in_w + d.pad_left + d.pad_right - d.dil_w * (d.kw - 1);
  if (eh <= 0 || ew <= 0) return false;
  if (d.out_h != (eh - 1) / d.stride_h + 1 || d.out_w != (ew - 1) / d.stride_w + 1) return false;
  if (d.fuse_maxpool2 && (d.out_h < 2 || d.out_w < 2)) return false;
  return true;
}

}  // namespace

bool WinogradWanted(const Isa& isa, const ConvDesc& d, ConvAlgo algo) {
  if (algo == ConvAlgo::kDirect || !WinogradOp::Supports(d)) return false;
  if (algo == ConvAlgo::kWinograd) return true;
  // Auto: Winograd pays off once the GEMMs dominate its transforms (enough input channels).
  (void)isa;
  return d.in_c >= 8;
}

std::unique_ptr<Op> MakeConvFor(const Isa* isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                int threads, ConvAlgo algo, const ChannelAffine& post) {
  if (!isa || !w_hwio || !ConvSupported(d)) return nullptr;
  if (post.active() && (!post.sub || !post.add)) return nullptr;
  if (algo == ConvAlgo::kWinograd && !WinogradOp::Supports(d)) return nullptr;
  if (WinogradWanted(*isa, d, algo))
    return std::make_unique<WinogradOp>(*isa, d, w_hwio, bias, std::max(1, threads), post);
  return std::make_unique<ConvOp>(*isa, d, w_hwio, bias, std::max(1, threads), post);
}

std::unique_ptr<Op> MakeDepthwiseFor(const Isa* isa, const DepthwiseDesc& d, const float* w, const float* bias,
                                     int threads, const ChannelAffine& post) {
  if (!isa || !w || !DepthwiseSupported(d)) return nullptr;
  if (post.active() && (!post.sub || !post.add)) return nullptr;
  return std::make_unique<DepthwiseOp>(*isa, d, w, bias, std::max(1, threads), post);
}

std::unique_ptr<Op> MakeDenseFor(const Isa* isa, const DenseDesc& d, const float* w_io, const float* bias,
                                 int threads) {
  if (!isa || !w_io || d.in <= 0 || d.out <= 0) return nullptr;
  return std::make_unique<DenseOp>(*isa, d, w_io, bias, std::max(1, threads));
}

}  // namespace simd

std::unique_ptr<Op> MakeConvSimd(const ConvDesc& d, const float* w_hwio, const float* bias, int threads,
                                 const ChannelAffine& post) {
  return simd::MakeConvFor(simd::BestIsa(), d, w_hwio, bias, threads, simd::DefaultConvAlgo(), post);
}

std::unique_ptr<Op> MakeDepthwiseSimd(const DepthwiseDesc& d, const float* w, const float* bias, int threads,
                                      const ChannelAffine& post) {
  return simd::MakeDepthwiseFor(simd::BestIsa(), d, w, bias, threads, post);
}

std::unique_ptr<Op> MakeDenseSimd(const DenseDesc& d, const float* w_io, const float* bias, int threads) {
  return simd::MakeDenseFor(simd::BestIsa(), d, w_io, bias, threads);
}

bool SimdAvailable() { return simd::BestIsa() != nullptr; }
std::string DescribeSimd(bool* override_ignored) { return simd::DescribeIsa(override_ignored); }

}  // namespace catdog::kernels
