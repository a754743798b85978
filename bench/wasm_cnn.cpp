// The tutorial CNN straight from the SIMD kernels, timed per layer: a small program for the
// wasm (simd128) build, run under node, where Google Benchmark is not built. It also builds
// natively. Prints median and min ms per layer and in total over --runs (default 300) batch-1
// passes, one thread. GFLOP/s counts the direct convolution's FLOPs (154.6 MFLOP per image), so with
// Winograd it is an "effective" rate, comparable with what other engines do for the same model.
//
//   S=shared/src; NODE_PATH=/usr/share/nodejs em++ -O3 -msimd128 -std=c++17 -DCATDOG_SIMD=1 \
//     -I$S -Ishared/include bench/wasm_cnn.cpp $S/simd/{dispatch,thread_pool,packing,isa_base}.cpp \
//     $S/simd/{conv_igemm,conv_winograd2x2,dense,dwconv}.cpp $S/kernels_ref.cpp $S/kernels_xnnpack.cpp \
//     -sALLOW_MEMORY_GROWTH=1 -o /tmp/wasm_cnn.js && node --no-experimental-fetch /tmp/wasm_cnn.js
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels.h"

namespace {

using catdog::kernels::ConvDesc;
using catdog::kernels::DenseDesc;
using catdog::kernels::Op;

std::vector<float> Random(size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

ConvDesc Conv(int h, int w, int cin, int cout) {
  ConvDesc d;
  d.in_h = h;
  d.in_w = w;
  d.in_c = cin;
  d.out_c = cout;
  d.kh = d.kw = 3;
  d.out_h = h - 2;
  d.out_w = w - 2;
  d.clamp_min = 0;
  d.fuse_maxpool2 = true;
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 300;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--runs=", 7) == 0) runs = std::max(1, std::atoi(argv[i] + 7));

  const ConvDesc convs[3] = {Conv(100, 100, 1, 32), Conv(49, 49, 32, 64), Conv(23, 23, 64, 128)};
  const double flops[5] = {5.53e6, 81.4e6, 65.0e6, 2.56e6, 200};
  std::vector<std::unique_ptr<Op>> ops;
  std::vector<std::vector<float>> weights;
  for (int i = 0; i < 3; ++i) {
    const size_t k = 9 * static_cast<size_t>(convs[i].in_c);
    weights.push_back(Random(k * convs[i].out_c, i + 1, std::sqrt(3.0f / k)));
    weights.push_back(Random(convs[i].out_c, i + 10, 0.1f));
    ops.push_back(catdog::kernels::MakeConvSimd(convs[i], weights[weights.size() - 2].data(), weights.back().data(), 1));
  }
  DenseDesc d1, d2;
  d1.in = 12800;
  d1.out = 100;
  d1.clamp_min = 0;
  d2.in = 100;
  d2.out = 1;
  weights.push_back(Random(12800 * 100, 5, 0.015f));
  weights.push_back(Random(100, 6, 0.1f));
  ops.push_back(catdog::kernels::MakeDenseSimd(d1, weights[weights.size() - 2].data(), weights.back().data(), 1));
  weights.push_back(Random(100, 7, 0.1f));
  weights.push_back(Random(1, 8, 0.1f));
  ops.push_back(catdog::kernels::MakeDenseSimd(d2, weights[weights.size() - 2].data(), weights.back().data(), 1));
  for (const auto& op : ops)
    if (!op) {
      std::fprintf(stderr, "SIMD kernels unavailable in this build\n");
      return 1;
    }

  const size_t sizes[6] = {100 * 100, 49 * 49 * 32, 23 * 23 * 64, 10 * 10 * 128, 100, 1};
  std::vector<std::vector<float>> act;
  for (size_t s : sizes) act.emplace_back(s);
  act[0] = Random(sizes[0], 3, 1.0f);
  for (auto& a : act[0]) a = std::fabs(a);

  std::vector<double> t[6];
  for (int it = 0; it < runs + 10; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int l = 0; l < 5; ++l) {
      const auto s = std::chrono::steady_clock::now();
      ops[l]->Run(1, act[l].data(), act[l + 1].data());
      if (it >= 10) t[l].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
    }
    if (it >= 10) t[5].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const char* names[6] = {"conv1", "conv2", "conv3", "dense1", "dense2", "total"};
  std::printf("%-7s %-46s %10s %10s %14s\n", "layer", "kernel", "median ms", "min ms", "GFLOP/s @min");
  for (int l = 0; l < 6; ++l) {
    std::sort(t[l].begin(), t[l].end());
    const double f = l < 5 ? flops[l] : 154.6e6;
    std::printf("%-7s %-46s %10.3f %10.3f %14.1f\n", names[l], l < 5 ? ops[l]->name() : "", t[l][t[l].size() / 2],
                t[l][0], f / (t[l][0] * 1e6));
  }
  return 0;
}
