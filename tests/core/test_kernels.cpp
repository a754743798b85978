// Every fast path (each SIMD ISA this CPU runs, 1 and 3 threads; XNNPACK when built) against
// the scalar reference over tables of shapes; the references themselves against hand-worked
// examples.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catdog/catdog.h"
#include "kernels.h"
#include "simd/operators.h"
#include "simd/thread_pool.h"

namespace {

using catdog::kernels::ChannelAffine;
using catdog::kernels::ConvDesc;
using catdog::kernels::DenseDesc;
using catdog::kernels::DepthwiseDesc;
using catdog::kernels::kInf;
using catdog::kernels::Op;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Keras padding arithmetic for 'valid' / 'same'.
// A square k x k pooling window with stride `stride` (kernels::PoolRef).
catdog::kernels::PoolDesc Pool(bool is_max, int h, int w, int c, int k, int stride, int pad_top, int pad_left, int out_h,
                               int out_w) {
  catdog::kernels::PoolDesc d;
  d.is_max = is_max;
  d.in_h = h;
  d.in_w = w;
  d.channels = c;
  d.kh = d.kw = k;
  d.stride_h = d.stride_w = stride;
  d.pad_top = pad_top;
  d.pad_left = pad_left;
  d.out_h = out_h;
  d.out_w = out_w;
  return d;
}

ConvDesc MakeConv(int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int dil, bool same, float lo,
                  float hi, bool pool) {
  ConvDesc d;
  d.in_h = h;
  d.in_w = w;
  d.in_c = cin;
  d.out_c = cout;
  d.kh = kh;
  d.kw = kw;
  d.stride_h = sh;
  d.stride_w = sw;
  d.dil_h = d.dil_w = dil;
  const int ekh = (kh - 1) * dil + 1, ekw = (kw - 1) * dil + 1;
  if (same) {
    d.out_h = (h + sh - 1) / sh;
    d.out_w = (w + sw - 1) / sw;
    const int ph = std::max((d.out_h - 1) * sh + ekh - h, 0);
    const int pw = std::max((d.out_w - 1) * sw + ekw - w, 0);
    d.pad_top = ph / 2;
    d.pad_bottom = ph - ph / 2;
    d.pad_left = pw / 2;
    d.pad_right = pw - pw / 2;
  } else {
    d.out_h = (h - ekh) / sh + 1;
    d.out_w = (w - ekw) / sw + 1;
  }
  d.clamp_min = lo;
  d.clamp_max = hi;
  d.fuse_maxpool2 = pool;
  return d;
}

std::string Describe(const ConvDesc& d, int batch) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%dx%dx%d -> %d, k%dx%d s%dx%d d%d pad t%d l%d b%d r%d clamp[%g,%g]%s batch %d",
                d.in_h, d.in_w, d.in_c, d.out_c, d.kh, d.kw, d.stride_h, d.stride_w, d.dil_h, d.pad_top,
                d.pad_left, d.pad_bottom, d.pad_right, d.clamp_min, d.clamp_max, d.fuse_maxpool2 ? " pool2" : "",
                batch);
  return buf;
}

// |got - want| <= 1e-5 * max(1, max |want|): the sums have up to ~1200 terms of size <= 1, so
// reassociation (SIMD lanes, FMA) moves them by a few ulps of the largest partial sums.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float scale = 1.0f;
  for (float v : want) scale = std::max(scale, std::fabs(v));
  const float tol = 1e-5f * scale;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol) << what << " at " << i << " of " << got.size();
}

struct ConvCase {
  int h, w, cin, cout, kh, kw, sh, sw, dil;
  bool same;
  float lo, hi;
  bool pool;
  int batch;
};

const ConvCase kConvCases[] = {
    // The tutorial CNN's three layers.
    {100, 100, 1, 32, 3, 3, 1, 1, 1, false, 0, kInf, true, 1},
    {49, 49, 32, 64, 3, 3, 1, 1, 1, false, 0, kInf, true, 1},
    {23, 23, 64, 128, 3, 3, 1, 1, 1, false, 0, kInf, true, 3},
    // Odd sizes, channel counts around the vector widths, same/valid, strides, clamps.
    {7, 9, 3, 5, 3, 3, 1, 1, 1, true, -kInf, kInf, false, 3},
    {11, 13, 8, 16, 5, 3, 2, 2, 1, true, 0, 6, false, 1},
    {9, 9, 130, 130, 3, 3, 1, 1, 1, false, 0, kInf, true, 1},   // conv 7x7 -> pool 3x3
    {6, 5, 17, 33, 1, 1, 1, 1, 1, false, -kInf, kInf, false, 3},
    {12, 12, 4, 8, 3, 3, 1, 1, 2, true, -0.5f, 0.5f, false, 1},  // dilation 2
    {5, 5, 1, 1, 3, 3, 1, 1, 1, true, -kInf, kInf, false, 3},
    {15, 15, 16, 24, 3, 3, 2, 2, 1, false, 0, kInf, true, 3},
    {10, 7, 2, 3, 2, 4, 1, 1, 1, true, -kInf, kInf, false, 3},
    {31, 29, 1, 16, 3, 3, 1, 1, 1, true, 0, kInf, true, 3},     // same + pool, odd dims
    {8, 8, 64, 100, 3, 3, 1, 1, 1, true, 0, kInf, false, 1},
    {13, 11, 7, 15, 3, 3, 2, 1, 1, false, -kInf, kInf, true, 1},
    {4, 4, 40, 12, 4, 4, 1, 1, 1, false, 0, 6, false, 3},       // kernel == input: 1x1 output
    {3, 3, 2, 48, 3, 3, 1, 1, 1, true, -kInf, kInf, true, 1},   // 3x3 -> pool 1x1
    {20, 20, 9, 31, 3, 3, 1, 1, 1, false, 0, kInf, true, 1},
    // Winograd edge cases: odd outputs without pool (partial last tiles), channel tails.
    {10, 9, 10, 13, 3, 3, 1, 1, 1, false, -kInf, kInf, false, 3},  // out 8x7
    {9, 12, 33, 7, 3, 3, 1, 1, 1, true, 0, 6, false, 1},           // same, out 9x12
    {24, 25, 12, 20, 3, 3, 1, 1, 1, false, 0, kInf, true, 3},      // out 22x23 -> pool 11x11
    {6, 6, 8, 130, 3, 3, 1, 1, 1, true, -kInf, kInf, true, 1},
};

struct DenseCase {
  int in, out, batch;
  float lo, hi;
};

const DenseCase kDenseCases[] = {
    {12800, 100, 1, 0, kInf}, {12800, 100, 32, 0, kInf}, {100, 1, 1, -kInf, kInf}, {100, 1, 32, -kInf, kInf},
    {7, 3, 3, -kInf, kInf},   {130, 130, 5, 0, 6},      {1, 17, 2, 0, kInf},       {33, 65, 13, -1, 1},
    {64, 16, 17, 0, kInf},    {5, 129, 1, -kInf, kInf},
};

std::vector<std::unique_ptr<Op>> MakeConvPaths(const ConvDesc& d, const float* w, const float* b,
                                               std::vector<std::string>* labels) {
  std::vector<std::unique_ptr<Op>> ops;
  using catdog::kernels::simd::ConvAlgo;
  const bool wino_ok = d.kh == 3 && d.kw == 3 && d.stride_h == 1 && d.stride_w == 1 && d.dil_h == 1;
  for (const auto* isa : catdog::kernels::simd::AvailableIsas()) {
    for (ConvAlgo algo : {ConvAlgo::kDirect, ConvAlgo::kWinograd}) {
      for (int threads : {1, 3}) {
        auto op = catdog::kernels::simd::MakeConvFor(isa, d, w, b, threads, algo);
        if (algo == ConvAlgo::kWinograd && !wino_ok) {
          EXPECT_EQ(op, nullptr) << "winograd accepted " << Describe(d, 1);
          continue;
        }
        EXPECT_NE(op, nullptr) << "simd " << isa->name << " refused " << Describe(d, 1);
        if (!op) continue;
        labels->push_back(op->name());
        ops.push_back(std::move(op));
      }
    }
  }
  for (int threads : {1, 2}) {
    auto op = catdog::kernels::MakeConvXnnpack(d, w, b, threads);
    if (catdog::kernels::XnnpackAvailable()) {
      EXPECT_NE(op, nullptr) << "xnnpack refused " << Describe(d, 1);
    } else {
      EXPECT_EQ(op, nullptr) << "xnnpack not built, yet MakeConvXnnpack returned an op";
    }
    if (!op) continue;
    labels->push_back(std::string(op->name()) + " t" + std::to_string(threads));
    ops.push_back(std::move(op));
  }
  return ops;
}

TEST(Kernels, BuildHasSimdPaths) {
#if defined(__x86_64__) || defined(__wasm_simd128__) || (defined(__aarch64__) && defined(__ARM_NEON))
  // The project builds with CATDOG_SIMD on by default; this guards against it silently dropping,
  // and against the target's baseline table being the 1-float scalar fallback (vec.h has no
  // mapping for the target's vectors) instead of its SIMD: 4 floats on each of these.
  EXPECT_TRUE(catdog::kernels::SimdAvailable());
  const auto avail = catdog::kernels::simd::AvailableIsas();
  ASSERT_FALSE(avail.empty());
#if defined(__x86_64__)
  const char* base = "sse2";
#elif defined(__aarch64__)
  const char* base = "neon";
#else
  const char* base = "wasm";
#endif
  EXPECT_STREQ(avail.back()->name, base);  // the last offered table is the baseline one
  EXPECT_EQ(avail.back()->width, 4) << avail.back()->name;
#endif
  for (const auto* isa : catdog::kernels::simd::AvailableIsas()) std::printf("simd isa available: %s\n", isa->name);
}

// Every table this build compiled and this CPU can run is complete: each tile shape it advertises
// has a microkernel. A table the CPU cannot run is never built here (building it runs that ISA's
// code), so it is checked by the emulated runs of this suite (scripts/test-isa: -cpu Haswell for
// avx2, -cpu Nehalem for sse2, the host for avx512). Also run against a stale object: the tables
// are read through simd/dispatch.cpp's view of struct Isa, so a layout mismatch (see kIsaAbi)
// shows up here as missing tiles or absurd mr values, not as a crash in a model.
TEST(Kernels, CompiledIsaTablesAreComplete) {
  namespace simd = catdog::kernels::simd;
  int n = 0;
  const simd::IsaEntry* entries = simd::CompiledIsas(&n);
#if defined(CATDOG_SIMD) || defined(__x86_64__) || defined(__wasm_simd128__) || defined(__aarch64__)
  EXPECT_GE(n, 1);
#endif
  const auto avail = simd::AvailableIsas();
  for (int i = 0; i < n; ++i) {
    const simd::IsaEntry& e = entries[i];
    if (!simd::CpuSupports(e.need)) {
      std::printf("isa %s compiled; not built on this CPU (lacks %s)\n", e.name, e.cpu_flags);
      continue;
    }
    const simd::Isa* isa = e.get();
    ASSERT_NE(isa, nullptr) << e.name;
    EXPECT_STREQ(isa->name, e.name);
    const char* problem = simd::IsaProblem(*isa);
    EXPECT_EQ(problem, nullptr) << isa->name << ": " << problem;
    EXPECT_NE(std::find(avail.begin(), avail.end(), isa), avail.end()) << e.name << " runnable but not offered";
    std::printf("isa %s compiled and checked on this CPU\n", e.name);
  }
  EXPECT_EQ(static_cast<int>(avail.size()) <= n, true);
}

// The dispatcher picks the first compiled table the CPU supports (no CATDOG_ISA in the test
// environment), and that choice agrees with what the CPU reports. Under the emulated runs
// scripts/test-isa sets CATDOG_EXPECT_ISA (the table that must be chosen) and CATDOG_EXPECT_CPU
// ("avx2,fma,-avx512f": flags __builtin_cpu_supports must report, '-' = must not), so a run that
// silently used the host CPU instead of the emulated one fails here.
TEST(Kernels, DispatchFollowsTheCpu) {
  namespace simd = catdog::kernels::simd;
  int n = 0;
  const simd::IsaEntry* entries = simd::CompiledIsas(&n);
  const simd::IsaEntry* first = nullptr;
  for (int i = 0; i < n && !first; ++i)
    if (simd::CpuSupports(entries[i].need)) first = &entries[i];
  const simd::Isa* best = simd::BestIsa();
  const char* override_isa = std::getenv("CATDOG_ISA");
  if (first && !(override_isa && *override_isa)) {
    ASSERT_NE(best, nullptr);
    EXPECT_STREQ(best->name, first->name);
  }
  std::printf("%s\n", catdog::DescribeKernels().c_str());
  if (const char* want = std::getenv("CATDOG_EXPECT_ISA")) {
    ASSERT_NE(best, nullptr);
    EXPECT_STREQ(best->name, want) << catdog::DescribeKernels();
  }
#if defined(__x86_64__)
  if (const char* flags = std::getenv("CATDOG_EXPECT_CPU")) {
    __builtin_cpu_init();
    std::string list = flags;
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t end = list.find(',', pos);
      if (end == std::string::npos) end = list.size();
      std::string f = list.substr(pos, end - pos);
      pos = end + 1;
      if (f.empty()) continue;
      const bool want = f[0] != '-';
      if (!want) f = f.substr(1);
      bool has = false;
      if (f == "sse4.2") has = __builtin_cpu_supports("sse4.2");
      else if (f == "avx") has = __builtin_cpu_supports("avx");
      else if (f == "avx2") has = __builtin_cpu_supports("avx2");
      else if (f == "fma") has = __builtin_cpu_supports("fma");
      else if (f == "avx512f") has = __builtin_cpu_supports("avx512f");
      else FAIL() << "CATDOG_EXPECT_CPU: unknown flag " << f;
      EXPECT_EQ(has, want) << "CPU flag " << f << (want ? " expected" : " not expected");
    }
  }
#endif
}

// Each microkernel each runnable table advertises (nv = 1..kMaxNv, m = 1..mr[nv]) against a
// scalar loop, called directly through the table as the ops call it.
TEST(Kernels, EveryAdvertisedTileMatchesScalar) {
  namespace simd = catdog::kernels::simd;
  constexpr int kCin = 3, kTaps = 2, kPix = 8;  // input pixel pitch kPix floats, taps 1 pixel apart
  for (const simd::Isa* isa : simd::AvailableIsas()) {
    ASSERT_EQ(simd::IsaProblem(*isa), nullptr) << isa->name;
    for (int nv = 1; nv <= simd::kMaxNv; ++nv) {
      const int cols = nv * isa->width;
      for (int m = 1; m <= isa->mr[nv]; ++m) {
        SCOPED_TRACE(std::string(isa->name) + " nv=" + std::to_string(nv) + " m=" + std::to_string(m));
        const uint32_t seed = 1000u + 100u * nv + m;
        const std::vector<float> in = Random(static_cast<size_t>(m + kTaps) * kPix, seed);
        const std::vector<float> w = Random(static_cast<size_t>(kTaps) * kCin * cols, seed + 1);
        const std::vector<float> bias = Random(cols, seed + 2);
        const ptrdiff_t tap_off[kTaps] = {0, kPix};
        const float* a[simd::kMaxMr];
        for (int p = 0; p < m; ++p) a[p] = in.data() + static_cast<size_t>(p) * kPix;
        const size_t ldc = cols + 3;
        std::vector<float> out(static_cast<size_t>(m) * ldc, 42.0f);
        simd::GemmArgs t{};
        t.a = a;
        t.tap_off = tap_off;
        t.ntaps = kTaps;
        t.cin = kCin;
        t.w = w.data();
        t.bias = bias.data();
        t.lo = -0.5f;
        t.hi = 1.5f;
        t.c = out.data();
        t.ldc = ldc;
        ASSERT_NE(isa->gemm[nv][m], nullptr);
        isa->gemm[nv][m](t);
        for (int p = 0; p < m; ++p) {
          for (int j = 0; j < cols; ++j) {
            double acc = bias[j];
            for (int k = 0; k < kTaps; ++k)
              for (int i = 0; i < kCin; ++i)
                acc += static_cast<double>(a[p][tap_off[k] + i]) * w[(static_cast<size_t>(k) * kCin + i) * cols + j];
            const double want = std::min(std::max(acc, -0.5), 1.5);
            ASSERT_NEAR(out[p * ldc + j], want, 1e-5) << "pixel " << p << " channel " << j;
          }
          for (size_t j = cols; j < ldc; ++j) ASSERT_EQ(out[p * ldc + j], 42.0f) << "wrote past nv * W";
        }
        // The same tile with the folded-BatchNorm epilogue: (clamp(acc) - sub) * mul + add.
        const std::vector<float> sub = Random(cols, seed + 3), mul = Random(cols, seed + 4), add = Random(cols, seed + 5);
        std::vector<float> plain = out;
        t.post_sub = sub.data();
        t.post_mul = mul.data();
        t.post_add = add.data();
        isa->gemm[nv][m](t);
        for (int p = 0; p < m; ++p)
          for (int j = 0; j < cols; ++j) {
            const float want = (plain[p * ldc + j] - sub[j]) * mul[j] + add[j];
            ASSERT_NEAR(out[p * ldc + j], want, 1e-5) << "affine: pixel " << p << " channel " << j;
          }
      }
    }
  }
}

TEST(Kernels, ConvPathsMatchReference) {
  uint32_t seed = 10;
  for (const ConvCase& c : kConvCases) {
    const ConvDesc d = MakeConv(c.h, c.w, c.cin, c.cout, c.kh, c.kw, c.sh, c.sw, c.dil, c.same, c.lo, c.hi, c.pool);
    const std::string what = Describe(d, c.batch);
    SCOPED_TRACE(what);
    const auto x = Random(static_cast<size_t>(c.batch) * c.h * c.w * c.cin, seed++);
    const auto w = Random(static_cast<size_t>(c.kh) * c.kw * c.cin * c.cout, seed++);
    const auto b = Random(c.cout, seed++);
    const size_t out_n = static_cast<size_t>(c.batch) * d.final_h() * d.final_w() * c.cout;
    std::vector<float> want(out_n);
    catdog::kernels::Conv2DRef(d, c.batch, x.data(), w.data(), b.data(), want.data());
    std::vector<std::string> labels;
    auto ops = MakeConvPaths(d, w.data(), b.data(), &labels);
    for (size_t i = 0; i < ops.size(); ++i) {
      std::vector<float> got(out_n, std::nanf(""));
      ops[i]->Run(c.batch, x.data(), got.data());
      ExpectClose(got, want, labels[i]);
      // Second run on the same op (buffers reused) gives identical results.
      std::vector<float> again(out_n, std::nanf(""));
      ops[i]->Run(c.batch, x.data(), again.data());
      ASSERT_EQ(again, got) << labels[i] << " second run differs";
    }
    // Without bias.
    catdog::kernels::Conv2DRef(d, c.batch, x.data(), w.data(), nullptr, want.data());
    for (const auto* isa : catdog::kernels::simd::AvailableIsas()) {
      for (auto algo : {catdog::kernels::simd::ConvAlgo::kDirect, catdog::kernels::simd::ConvAlgo::kAuto}) {
        auto op = catdog::kernels::simd::MakeConvFor(isa, d, w.data(), nullptr, 1, algo);
        ASSERT_NE(op, nullptr);
        std::vector<float> got(out_n);
        op->Run(c.batch, x.data(), got.data());
        ExpectClose(got, want, std::string(op->name()) + " no bias");
      }
    }
  }
}

TEST(Kernels, ConvBatchSizesCanChangeBetweenRuns) {
  const ConvDesc d = MakeConv(9, 8, 5, 20, 3, 3, 1, 1, 1, true, 0, kInf, true);
  const auto w = Random(3 * 3 * 5 * 20, 1), b = Random(20, 2);
  const size_t per_in = 9 * 8 * 5, per_out = static_cast<size_t>(d.final_h()) * d.final_w() * 20;
  std::vector<std::string> labels;
  auto ops = MakeConvPaths(d, w.data(), b.data(), &labels);
  for (int batch : {1, 4, 2, 5}) {
    const auto x = Random(per_in * batch, 100 + batch);
    std::vector<float> want(per_out * batch);
    catdog::kernels::Conv2DRef(d, batch, x.data(), w.data(), b.data(), want.data());
    for (size_t i = 0; i < ops.size(); ++i) {
      std::vector<float> got(per_out * batch);
      ops[i]->Run(batch, x.data(), got.data());
      ExpectClose(got, want, labels[i] + " batch " + std::to_string(batch));
    }
  }
}

TEST(Kernels, DensePathsMatchReference) {
  uint32_t seed = 500;
  for (const DenseCase& c : kDenseCases) {
    DenseDesc d;
    d.in = c.in;
    d.out = c.out;
    d.clamp_min = c.lo;
    d.clamp_max = c.hi;
    const std::string what = "dense " + std::to_string(c.in) + " -> " + std::to_string(c.out) + " batch " +
                             std::to_string(c.batch);
    SCOPED_TRACE(what);
    const auto x = Random(static_cast<size_t>(c.batch) * c.in, seed++);
    const auto w = Random(static_cast<size_t>(c.in) * c.out, seed++);
    const auto b = Random(c.out, seed++);
    std::vector<float> want(static_cast<size_t>(c.batch) * c.out);
    catdog::kernels::DenseRef(d, c.batch, x.data(), w.data(), b.data(), want.data());
    std::vector<std::unique_ptr<Op>> ops;
    for (const auto* isa : catdog::kernels::simd::AvailableIsas())
      for (int threads : {1, 3}) ops.push_back(catdog::kernels::simd::MakeDenseFor(isa, d, w.data(), b.data(), threads));
    for (int threads : {1, 2}) {
      auto op = catdog::kernels::MakeDenseXnnpack(d, w.data(), b.data(), threads);
      EXPECT_EQ(op != nullptr, catdog::kernels::XnnpackAvailable());
      if (op) ops.push_back(std::move(op));
    }
    for (auto& op : ops) {
      ASSERT_NE(op, nullptr);
      std::vector<float> got(want.size(), std::nanf(""));
      op->Run(c.batch, x.data(), got.data());
      ExpectClose(got, want, op->name());
    }
  }
}

// ---- depthwise convolution and the folded-BatchNorm epilogue --------------------------------------

DepthwiseDesc MakeDw(int h, int w, int c, int kh, int kw, int sh, int sw, bool same, float lo, float hi) {
  const ConvDesc cd = MakeConv(h, w, c, c, kh, kw, sh, sw, 1, same, lo, hi, false);
  DepthwiseDesc d;
  d.in_h = h;
  d.in_w = w;
  d.channels = c;
  d.kh = kh;
  d.kw = kw;
  d.stride_h = sh;
  d.stride_w = sw;
  d.pad_top = cd.pad_top;
  d.pad_left = cd.pad_left;
  d.pad_bottom = cd.pad_bottom;
  d.pad_right = cd.pad_right;
  d.out_h = cd.out_h;
  d.out_w = cd.out_w;
  d.clamp_min = lo;
  d.clamp_max = hi;
  return d;
}

std::string Describe(const DepthwiseDesc& d, int batch, bool affine) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "dw %dx%dx%d k%dx%d s%dx%d pad t%d l%d b%d r%d -> %dx%d clamp[%g,%g]%s batch %d", d.in_h,
                d.in_w, d.channels, d.kh, d.kw, d.stride_h, d.stride_w, d.pad_top, d.pad_left, d.pad_bottom, d.pad_right,
                d.out_h, d.out_w, d.clamp_min, d.clamp_max, affine ? " affine" : "", batch);
  return buf;
}

// A BatchNorm-like affine with some negative scales (they flip which pixel a max-pool keeps).
struct Affine {
  std::vector<float> sub, mul, add;
  Affine(int n, uint32_t seed) : sub(Random(n, seed)), mul(Random(n, seed + 1)), add(Random(n, seed + 2)) {
    for (auto& m : mul) m *= 2.0f;
  }
  ChannelAffine view() const { return {sub.data(), mul.data(), add.data()}; }
};

struct DwCase {
  int h, w, c, kh, kw, sh, sw;
  bool same;
  float lo, hi;
  bool affine;
  int batch;
};

const DwCase kDwCases[] = {
    // catnet-aug's five depthwise layers (3x3 same, stride 1).
    {50, 50, 32, 3, 3, 1, 1, true, -kInf, kInf, false, 1},
    {25, 25, 64, 3, 3, 1, 1, true, -kInf, kInf, false, 1},
    {25, 25, 128, 3, 3, 1, 1, true, -kInf, kInf, false, 1},
    {12, 12, 128, 3, 3, 1, 1, true, -kInf, kInf, false, 2},
    {12, 12, 256, 3, 3, 1, 1, true, 0, kInf, true, 1},
    // Stride 2 same / valid, odd sizes, channel tails around every vector width, clamps.
    {11, 13, 24, 3, 3, 2, 2, true, 0, 6, true, 3},
    {11, 13, 24, 3, 3, 2, 2, false, -kInf, kInf, false, 1},
    {10, 10, 16, 3, 3, 2, 2, true, -kInf, kInf, true, 1},
    {7, 9, 3, 3, 3, 1, 1, true, 0, kInf, true, 3},
    {9, 7, 17, 3, 3, 1, 1, false, -0.5f, 0.5f, true, 2},
    {6, 6, 33, 3, 3, 1, 2, true, -kInf, kInf, false, 1},
    {5, 8, 1, 3, 3, 1, 1, true, -kInf, kInf, true, 3},
    {3, 3, 20, 3, 3, 1, 1, false, 0, kInf, false, 2},   // kernel == input: 1x1 output
    {2, 2, 8, 3, 3, 1, 1, true, -kInf, kInf, true, 1},  // every pixel a border pixel
    // Other kernel sizes (generic row kernel).
    {12, 11, 20, 5, 3, 1, 1, true, 0, kInf, true, 1},
    {8, 9, 12, 1, 1, 1, 1, false, -kInf, kInf, true, 2},
    {10, 7, 7, 2, 4, 2, 1, true, -kInf, kInf, false, 3},
};

TEST(Kernels, DepthwisePathsMatchReference) {
  uint32_t seed = 700;
  for (const DwCase& c : kDwCases) {
    const DepthwiseDesc d = MakeDw(c.h, c.w, c.c, c.kh, c.kw, c.sh, c.sw, c.same, c.lo, c.hi);
    SCOPED_TRACE(Describe(d, c.batch, c.affine));
    const auto x = Random(static_cast<size_t>(c.batch) * c.h * c.w * c.c, seed++);
    const auto w = Random(static_cast<size_t>(c.kh) * c.kw * c.c, seed++);
    const auto b = Random(c.c, seed++);
    const Affine post(c.c, seed);
    seed += 3;
    const ChannelAffine pv = c.affine ? post.view() : ChannelAffine{};
    const size_t out_n = static_cast<size_t>(c.batch) * d.out_h * d.out_w * c.c;
    for (const float* bias : {b.data(), static_cast<const float*>(nullptr)}) {
      std::vector<float> want(out_n);
      catdog::kernels::DepthwiseRef(d, c.batch, x.data(), w.data(), bias, want.data());
      catdog::kernels::ChannelAffineRef(pv, static_cast<size_t>(c.batch) * d.out_h * d.out_w, c.c, want.data());
      for (const auto* isa : catdog::kernels::simd::AvailableIsas())
        for (int threads : {1, 3}) {
          auto op = catdog::kernels::simd::MakeDepthwiseFor(isa, d, w.data(), bias, threads, pv);
          ASSERT_NE(op, nullptr) << isa->name;
          std::vector<float> got(out_n, std::nanf(""));
          op->Run(c.batch, x.data(), got.data());
          const std::string label = std::string(op->name()) + (bias ? "" : " no bias");
          ExpectClose(got, want, label);
          std::vector<float> again(out_n, std::nanf(""));
          op->Run(c.batch, x.data(), again.data());
          ASSERT_EQ(again, got) << label << " second run differs";
        }
    }
  }
}

// Conv (direct, Winograd, 1x1 pointwise) with the affine epilogue, with and without the fused
// pool, against reference conv -> affine -> max-pool.
TEST(Kernels, ConvWithAffineMatchesReference) {
  const ConvCase cases[] = {
      {100, 100, 1, 32, 3, 3, 1, 1, 1, true, 0, kInf, true, 1},   // catnet-aug's first conv
      {50, 50, 32, 64, 1, 1, 1, 1, 1, false, 0, kInf, true, 1},   // its pointwise convs
      {25, 25, 128, 128, 1, 1, 1, 1, 1, false, 0, kInf, true, 1},
      {12, 12, 128, 256, 1, 1, 1, 1, 1, false, 0, kInf, false, 2},
      {9, 11, 17, 13, 1, 1, 1, 1, 1, false, -kInf, kInf, true, 3},
      {12, 12, 16, 24, 3, 3, 1, 1, 1, true, 0, 6, true, 3},       // Winograd with pool
      {10, 9, 10, 13, 3, 3, 1, 1, 1, false, 0, kInf, false, 1},   // Winograd, partial tiles
      {15, 15, 16, 24, 3, 3, 2, 2, 1, false, 0, kInf, true, 1},
  };
  uint32_t seed = 900;
  for (const ConvCase& c : cases) {
    const ConvDesc d = MakeConv(c.h, c.w, c.cin, c.cout, c.kh, c.kw, c.sh, c.sw, c.dil, c.same, c.lo, c.hi, c.pool);
    SCOPED_TRACE(Describe(d, c.batch) + " affine");
    const auto x = Random(static_cast<size_t>(c.batch) * c.h * c.w * c.cin, seed++);
    const auto w = Random(static_cast<size_t>(c.kh) * c.kw * c.cin * c.cout, seed++);
    const auto b = Random(c.cout, seed++);
    const Affine post(c.cout, seed);
    seed += 3;
    ConvDesc plain = d;
    plain.fuse_maxpool2 = false;
    const size_t pix = static_cast<size_t>(c.batch) * d.out_h * d.out_w;
    std::vector<float> conv(pix * c.cout);
    catdog::kernels::Conv2DRef(plain, c.batch, x.data(), w.data(), b.data(), conv.data());
    catdog::kernels::ChannelAffineRef(post.view(), pix, c.cout, conv.data());
    std::vector<float> want = conv;
    if (c.pool) {
      want.resize(static_cast<size_t>(c.batch) * d.final_h() * d.final_w() * c.cout);
      catdog::kernels::PoolRef(Pool(true, d.out_h, d.out_w, c.cout, 2, 2, 0, 0, d.final_h(), d.final_w()), c.batch,
                               conv.data(), want.data());
    }
    using catdog::kernels::simd::ConvAlgo;
    const bool wino_ok = c.kh == 3 && c.kw == 3 && c.sh == 1 && c.sw == 1;
    for (const auto* isa : catdog::kernels::simd::AvailableIsas())
      for (ConvAlgo algo : {ConvAlgo::kDirect, ConvAlgo::kWinograd})
        for (int threads : {1, 3}) {
          if (algo == ConvAlgo::kWinograd && !wino_ok) continue;
          auto op = catdog::kernels::simd::MakeConvFor(isa, d, w.data(), b.data(), threads, algo, post.view());
          ASSERT_NE(op, nullptr) << isa->name;
          EXPECT_NE(std::string(op->name()).find("_affine"), std::string::npos) << op->name();
          std::vector<float> got(want.size(), std::nanf(""));
          op->Run(c.batch, x.data(), got.data());
          ExpectClose(got, want, op->name());
        }
  }
}

#ifndef __EMSCRIPTEN__
// Ops with threads > 1 share one worker pool per thread count; two models running at once on
// different threads must both get right answers (one of them runs on its own thread).
TEST(Kernels, OpsSharingTheWorkerPoolRunConcurrently) {
  const ConvDesc d1 = MakeConv(30, 30, 8, 16, 3, 3, 1, 1, 1, true, 0, kInf, true);
  const ConvDesc d2 = MakeConv(21, 17, 3, 24, 3, 3, 2, 2, 1, false, -kInf, kInf, false);
  const auto w1 = Random(9 * 8 * 16, 1), w2 = Random(9 * 3 * 24, 2);
  const auto x1 = Random(30 * 30 * 8 * 2, 3), x2 = Random(21 * 17 * 3 * 2, 4);
  std::vector<float> want1(2 * static_cast<size_t>(d1.final_h()) * d1.final_w() * 16);
  std::vector<float> want2(2 * static_cast<size_t>(d2.final_h()) * d2.final_w() * 24);
  catdog::kernels::Conv2DRef(d1, 2, x1.data(), w1.data(), nullptr, want1.data());
  catdog::kernels::Conv2DRef(d2, 2, x2.data(), w2.data(), nullptr, want2.data());
  auto op1 = catdog::kernels::MakeConvSimd(d1, w1.data(), nullptr, 2);
  auto op2 = catdog::kernels::MakeConvSimd(d2, w2.data(), nullptr, 2);
  ASSERT_NE(op1, nullptr);
  ASSERT_NE(op2, nullptr);
  std::atomic<int> bad{0};
  auto loop = [&](Op* op, const std::vector<float>& x, const std::vector<float>& want) {
    std::vector<float> got(want.size());
    for (int i = 0; i < 200; ++i) {
      op->Run(2, x.data(), got.data());
      for (size_t k = 0; k < got.size(); ++k)
        if (std::fabs(got[k] - want[k]) > 1e-4f) {
          ++bad;
          break;
        }
    }
  };
  std::thread t1(loop, op1.get(), std::cref(x1), std::cref(want1));
  std::thread t2(loop, op2.get(), std::cref(x2), std::cref(want2));
  t1.join();
  t2.join();
  EXPECT_EQ(bad.load(), 0);
}
#endif

#ifndef __EMSCRIPTEN__
// catdog::SetThreadCap (catdog.h): at run time, at most `cap` threads of a pool take part in a
// run (the page's thread chooser switches 1 <-> 2 with it), and an op's output does not change.
TEST(Kernels, ThreadCapLimitsThePoolAtRunTime) {
  using catdog::kernels::simd::Workers;
  struct Seen {
    std::atomic<int> max_thread{-1};
    std::atomic<int> tasks{0};
  };
  auto task = [](void* ctx, int, int thread) {
    auto* s = static_cast<Seen*>(ctx);
    int m = s->max_thread.load();
    while (thread > m && !s->max_thread.compare_exchange_weak(m, thread)) {}
    // The calling thread sleeps in each of its tasks, so that woken workers find tasks left.
    if (thread == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    ++s->tasks;
  };
  Workers pool(3);
  ASSERT_EQ(pool.size(), 3);
  EXPECT_FALSE(catdog::SetThreadCap(-1));
  EXPECT_FALSE(catdog::SetThreadCap(65));
  EXPECT_EQ(catdog::ThreadCap(), 0);
  for (int cap : {1, 2}) {
    ASSERT_TRUE(catdog::SetThreadCap(cap));
    Seen seen;
    for (int r = 0; r < 10; ++r) pool.Run(64, task, &seen);
    EXPECT_EQ(seen.tasks.load(), 10 * 64);
    EXPECT_LT(seen.max_thread.load(), cap) << "cap " << cap;
  }
  // Without a cap the pool's third thread takes tasks again.
  ASSERT_TRUE(catdog::SetThreadCap(0));
  Seen seen;
  for (int r = 0; r < 200 && seen.max_thread.load() < 2; ++r) pool.Run(64, task, &seen);
  EXPECT_EQ(seen.max_thread.load(), 2);
  // An op of 3 threads gives the same bits capped at 1 as uncapped.
  const ConvDesc d = MakeConv(30, 30, 8, 16, 3, 3, 1, 1, 1, true, 0, kInf, true);
  const auto w = Random(9 * 8 * 16, 7), x = Random(30 * 30 * 8, 8);
  auto op = catdog::kernels::MakeConvSimd(d, w.data(), nullptr, 3);
  ASSERT_NE(op, nullptr);
  std::vector<float> a(static_cast<size_t>(d.final_h()) * d.final_w() * 16), b(a.size());
  ASSERT_TRUE(catdog::SetThreadCap(1));
  op->Run(1, x.data(), a.data());
  ASSERT_TRUE(catdog::SetThreadCap(0));
  op->Run(1, x.data(), b.data());
  EXPECT_EQ(a, b);
}
#endif

TEST(Kernels, SimdRefusesBadConfigs) {
  ConvDesc d = MakeConv(10, 10, 3, 4, 3, 3, 1, 1, 1, false, 0, kInf, false);
  const auto w = Random(3 * 3 * 3 * 4, 1);
  d.out_h = 9;  // inconsistent with 'valid' (8)
  EXPECT_EQ(catdog::kernels::MakeConvSimd(d, w.data(), nullptr, 1), nullptr);
  d = MakeConv(10, 10, 3, 4, 3, 3, 1, 1, 1, false, 0, kInf, false);
  d.in_c = 0;
  EXPECT_EQ(catdog::kernels::MakeConvSimd(d, w.data(), nullptr, 1), nullptr);
  DenseDesc dd;
  dd.in = 0;
  dd.out = 3;
  EXPECT_EQ(catdog::kernels::MakeDenseSimd(dd, w.data(), nullptr, 1), nullptr);
  EXPECT_EQ(catdog::kernels::MakeDenseXnnpack(dd, w.data(), nullptr, 1), nullptr);
  DepthwiseDesc dw = MakeDw(10, 10, 3, 3, 3, 1, 1, true, -kInf, kInf);
  ASSERT_NE(catdog::kernels::MakeDepthwiseSimd(dw, w.data(), nullptr, 1), nullptr);
  dw.out_w = 9;  // inconsistent with 'same' (10)
  EXPECT_EQ(catdog::kernels::MakeDepthwiseSimd(dw, w.data(), nullptr, 1), nullptr);
  dw = MakeDw(10, 10, 3, 3, 3, 1, 1, true, -kInf, kInf);
  dw.mult = 2;  // depth_multiplier > 1: reference only
  EXPECT_EQ(catdog::kernels::MakeDepthwiseSimd(dw, w.data(), nullptr, 1), nullptr);
  // An affine with only some of its arrays is refused, not half applied.
  const float mul[4] = {1, 1, 1, 1};
  d = MakeConv(10, 10, 3, 4, 3, 3, 1, 1, 1, false, 0, kInf, false);
  EXPECT_EQ(catdog::kernels::MakeConvSimd(d, w.data(), nullptr, 1, ChannelAffine{nullptr, mul, nullptr}), nullptr);
}

TEST(Kernels, OpNamesCarryDtypeOpIsaAndTile) {
  const ConvDesc d = MakeConv(100, 100, 1, 32, 3, 3, 1, 1, 1, false, 0, kInf, true);
  const auto w = Random(9 * 32, 3);
  for (const auto* isa : catdog::kernels::simd::AvailableIsas()) {
    auto op = catdog::kernels::simd::MakeConvFor(isa, d, w.data(), nullptr, 1);
    ASSERT_NE(op, nullptr);
    const std::string name = op->name();
    EXPECT_EQ(name.find("winograd"), std::string::npos) << "1-channel input should be direct: " << name;
    EXPECT_EQ(name.rfind("f32_conv3x3_c1", 0), 0u) << name;
    EXPECT_NE(name.find(std::string("__") + isa->name), std::string::npos) << name;
    EXPECT_NE(name.find("pool2"), std::string::npos) << name;
  }
}

// ---- the references themselves, on examples worked by hand ------------------------------------
TEST(KernelsRef, Conv2DRefHandExample) {
  // 3x3x1 input 1..9, 2x2 kernel of ones (valid) -> 2x2: sums of 2x2 windows, + bias 1, relu.
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float w[4] = {1, 1, 1, 1};
  const float b[1] = {1};
  ConvDesc d = MakeConv(3, 3, 1, 1, 2, 2, 1, 1, 1, false, 0, kInf, false);
  float y[4];
  catdog::kernels::Conv2DRef(d, 1, x, w, b, y);
  EXPECT_EQ(y[0], 13);  // 1+2+4+5+1
  EXPECT_EQ(y[1], 17);
  EXPECT_EQ(y[2], 25);
  EXPECT_EQ(y[3], 29);
  // Same padding, 3x3 kernel with only the centre tap = 2, two output channels (second = -1*centre),
  // clamp to [0, 10]: ch0 = min(2x, 10), ch1 = 0.
  float w2[3 * 3 * 1 * 2] = {};
  w2[(1 * 3 + 1) * 2 + 0] = 2;
  w2[(1 * 3 + 1) * 2 + 1] = -1;
  d = MakeConv(3, 3, 1, 2, 3, 3, 1, 1, 1, true, 0, 10, false);
  float y2[18];
  catdog::kernels::Conv2DRef(d, 1, x, w2, nullptr, y2);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(y2[i * 2], std::min(2 * x[i], 10.0f)) << i;
    EXPECT_EQ(y2[i * 2 + 1], 0) << i;
  }
  // Fused pool: 2x2 output of the first example pooled to its max.
  d = MakeConv(3, 3, 1, 1, 2, 2, 1, 1, 1, false, 0, kInf, true);
  float y3[1];
  catdog::kernels::Conv2DRef(d, 1, x, w, b, y3);
  EXPECT_EQ(y3[0], 29);
}

TEST(KernelsRef, DepthwiseRefAndAffineHandExample) {
  // 3x3 input, 2 channels: ch0 = 1..9, ch1 = -(1..9). 3x3 'same' kernel: ch0 all ones (window
  // sums), ch1 only the centre tap = 2. Bias {0, 1}, clamp [0, 20].
  float x[18];
  for (int i = 0; i < 9; ++i) {
    x[2 * i] = static_cast<float>(i + 1);
    x[2 * i + 1] = -static_cast<float>(i + 1);
  }
  float w[18] = {};
  for (int t = 0; t < 9; ++t) w[2 * t] = 1;
  w[2 * 4 + 1] = 2;
  const float b[2] = {0, 1};
  DepthwiseDesc d = MakeDw(3, 3, 2, 3, 3, 1, 1, true, 0, 20);
  float y[18];
  catdog::kernels::DepthwiseRef(d, 1, x, w, b, y);
  const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};  // 3x3 window sums of 1..9, zero padded
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(y[2 * i], std::min(sums[i], 20.0f)) << i;
    EXPECT_EQ(y[2 * i + 1], 0.0f) << i;  // 1 - 2 * (i + 1) < 0 -> clamped
  }
  // Stride 2 valid: one output pixel, the centre window.
  d = MakeDw(3, 3, 2, 3, 3, 2, 2, false, -kInf, kInf);
  float y1[2];
  catdog::kernels::DepthwiseRef(d, 1, x, w, nullptr, y1);
  EXPECT_EQ(y1[0], 45);
  EXPECT_EQ(y1[1], -10);
  // Affine: (v - sub) * mul + add per channel.
  const float sub[2] = {1, -1}, mul[2] = {2, -0.5f}, add[2] = {0.5f, 0};
  float v[4] = {3, 3, -1, 1};
  catdog::kernels::ChannelAffineRef(ChannelAffine{sub, mul, add}, 2, 2, v);
  EXPECT_EQ(v[0], 4.5f);   // (3 - 1) * 2 + 0.5
  EXPECT_EQ(v[1], -2.0f);  // (3 + 1) * -0.5
  EXPECT_EQ(v[2], -3.5f);  // (-1 - 1) * 2 + 0.5
  EXPECT_EQ(v[3], -1.0f);  // (1 + 1) * -0.5
}

TEST(KernelsRef, DenseRefHandExample) {
  const float x[2 * 3] = {1, 2, 3, -1, -2, -3};
  const float w[3 * 2] = {1, 0, 0, 1, 1, -1};  // [in][out]
  const float b[2] = {0.5f, 0};
  DenseDesc d;
  d.in = 3;
  d.out = 2;
  d.clamp_min = 0;
  float y[4];
  catdog::kernels::DenseRef(d, 2, x, w, b, y);
  EXPECT_EQ(y[0], 4.5f);  // 1 + 3 + 0.5
  EXPECT_EQ(y[1], 0.0f);  // 2 - 3 = -1 -> relu 0
  EXPECT_EQ(y[2], 0.0f);  // -1 - 3 + 0.5 -> 0
  EXPECT_EQ(y[3], 1.0f);  // -2 + 3
}

// The pooling reference is the code MaxPooling2D / AveragePooling2D run (layers/pooling.cpp) and
// what the fused SIMD pool is compared with (ConvWithAffineMatchesReference).
TEST(KernelsRef, PoolRefPaddedCellsNeverWin) {
  // 3x3 all negative, 2x2 window stride 2 with 'same' padding (bottom/right): padded zeros must
  // not beat the negatives.
  const float x[9] = {-9, -8, -7, -6, -5, -4, -3, -2, -1};
  float y[4];
  catdog::kernels::PoolRef(Pool(true, 3, 3, 1, 2, 2, 0, 0, 2, 2), 1, x, y);
  EXPECT_EQ(y[0], -5);
  EXPECT_EQ(y[1], -4);
  EXPECT_EQ(y[2], -2);
  EXPECT_EQ(y[3], -1);
  // Two channels, batch 2, 3x3 window stride 1 valid on 3x3: one output = channel max.
  float x2[2 * 9 * 2];
  for (int i = 0; i < 36; ++i) x2[i] = static_cast<float>((i * 7) % 11);
  float y2[4];
  catdog::kernels::PoolRef(Pool(true, 3, 3, 2, 3, 1, 0, 0, 1, 1), 2, x2, y2);
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c) {
      float m = -kInf;
      for (int p = 0; p < 9; ++p) m = std::max(m, x2[b * 18 + p * 2 + c]);
      EXPECT_EQ(y2[b * 2 + c], m);
    }
}

TEST(KernelsRef, PoolRefAverageCountsOnlyCellsInside) {
  // 3x3, 2x2 window stride 2 'same' (TensorFlow pads bottom/right): the border windows average
  // the cells they cover, not 4.
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float y[4];
  catdog::kernels::PoolRef(Pool(false, 3, 3, 1, 2, 2, 0, 0, 2, 2), 1, x, y);
  EXPECT_FLOAT_EQ(y[0], (1 + 2 + 4 + 5) / 4.f);
  EXPECT_FLOAT_EQ(y[1], (3 + 6) / 2.f);
  EXPECT_FLOAT_EQ(y[2], (7 + 8) / 2.f);
  EXPECT_FLOAT_EQ(y[3], 9.f);
  // 3x3 window stride 1 with one cell of padding all round on 2x2 x 2 channels: every window
  // covers the whole input, so each output is the channel mean.
  const float x2[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  float y2[8];
  catdog::kernels::PoolRef(Pool(false, 2, 2, 2, 3, 1, 1, 1, 2, 2), 1, x2, y2);
  for (int p = 0; p < 4; ++p) {
    EXPECT_FLOAT_EQ(y2[p * 2], 2.5f) << p;
    EXPECT_FLOAT_EQ(y2[p * 2 + 1], 25.f) << p;
  }
}

}  // namespace
