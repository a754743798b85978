// The tutorial CNN (100x100x1 -> conv3x3 32 relu -> pool2 -> conv 64 -> pool -> conv 128 -> pool
// -> flatten -> dense 100 relu -> dense 1 sigmoid), built straight from the kernels, timed per
// backend: the scalar reference, every SIMD ISA this CPU runs, and XNNPACK; batch 1 and 32, one
// thread unless --threads. Also each layer on its own. Counters: GFLOPS (2 x multiply-adds of
// conv and dense, 154.6 MFLOP per image) and images/s. Medians over --benchmark_repetitions.
//
// Also the shipped default model web/models/catnet-aug (separable CNN with BatchNorm) through the
// public API per backend (catnet/), and its five depthwise 3x3 layers alone (dwconv/).
//
//   build/native/bench/catdog_bench_kernels [--threads=N] [--benchmark_filter=cnn/]
// Environment: CATDOG_CONV=direct|winograd forces the SIMD convolution algorithm (default:
// Winograd F(2x2,3x3) for 3x3 stride-1 convs with >= 8 input channels, direct otherwise);
// CATDOG_ISA=avx2|sse2 makes catnet/simd use that table instead of the best one.
// On a shared machine compare the CPU column (the wall column includes waiting for a core).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "kernels.h"
#include "simd/operators.h"

namespace {

using catdog::kernels::ConvDesc;
using catdog::kernels::DenseDesc;
using catdog::kernels::kInf;
using catdog::kernels::Op;

int g_threads = 1;

enum class Kind { kReference, kSimd, kXnnpack };
struct Backend {
  std::string name;
  Kind kind;
  const catdog::kernels::simd::Isa* isa = nullptr;
};

std::vector<float> Random(size_t n, uint32_t seed, float scale) {
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

// One layer: its shape, weights, and the function that runs it on the chosen backend.
struct Layer {
  std::string name;
  bool conv = true;
  ConvDesc cd;
  DenseDesc dd;
  std::vector<float> w, b;
  std::unique_ptr<Op> op;  // null for the reference
  size_t in_size = 0, out_size = 0;
  double flops = 0;  // per image

  void Run(int batch, const float* in, float* out) {
    if (op) return op->Run(batch, in, out);
    if (conv) return catdog::kernels::Conv2DRef(cd, batch, in, w.data(), b.data(), out);
    catdog::kernels::DenseRef(dd, batch, in, w.data(), b.data(), out);
  }
};

std::vector<Layer> BuildCnn(const Backend& be) {
  std::vector<Layer> layers;
  const ConvDesc convs[3] = {Conv(100, 100, 1, 32), Conv(49, 49, 32, 64), Conv(23, 23, 64, 128)};
  uint32_t seed = 1;
  for (int i = 0; i < 3; ++i) {
    Layer l;
    l.name = "conv" + std::to_string(i + 1);
    l.cd = convs[i];
    const ConvDesc& d = l.cd;
    const size_t k = static_cast<size_t>(d.kh) * d.kw * d.in_c;
    l.w = Random(k * d.out_c, seed++, std::sqrt(3.0f / k));
    l.b = Random(d.out_c, seed++, 0.1f);
    l.in_size = static_cast<size_t>(d.in_h) * d.in_w * d.in_c;
    l.out_size = static_cast<size_t>(d.final_h()) * d.final_w() * d.out_c;
    l.flops = 2.0 * d.out_h * d.out_w * d.out_c * k;
    layers.push_back(std::move(l));
  }
  const int dense_io[2][2] = {{12800, 100}, {100, 1}};
  for (int i = 0; i < 2; ++i) {
    Layer l;
    l.name = "dense" + std::to_string(i + 1);
    l.conv = false;
    l.dd.in = dense_io[i][0];
    l.dd.out = dense_io[i][1];
    if (i == 0) l.dd.clamp_min = 0;
    l.w = Random(static_cast<size_t>(l.dd.in) * l.dd.out, seed++, std::sqrt(3.0f / l.dd.in));
    l.b = Random(l.dd.out, seed++, 0.1f);
    l.in_size = l.dd.in;
    l.out_size = l.dd.out;
    l.flops = 2.0 * l.dd.in * l.dd.out;
    layers.push_back(std::move(l));
  }
  for (Layer& l : layers) {
    switch (be.kind) {
      case Kind::kReference:
        break;
      case Kind::kSimd:
        l.op = l.conv ? catdog::kernels::simd::MakeConvFor(be.isa, l.cd, l.w.data(), l.b.data(), g_threads,
                                                              catdog::kernels::simd::DefaultConvAlgo())
                      : catdog::kernels::simd::MakeDenseFor(be.isa, l.dd, l.w.data(), l.b.data(), g_threads);
        break;
      case Kind::kXnnpack:
        l.op = l.conv ? catdog::kernels::MakeConvXnnpack(l.cd, l.w.data(), l.b.data(), g_threads)
                      : catdog::kernels::MakeDenseXnnpack(l.dd, l.w.data(), l.b.data(), g_threads);
        break;
    }
  }
  return layers;
}

void BenchCnn(benchmark::State& state, Backend be, int batch) {
  std::vector<Layer> layers = BuildCnn(be);
  for (const Layer& l : layers)
    if (be.kind != Kind::kReference && !l.op) {
      state.SkipWithError(("backend refused layer " + l.name).c_str());
      return;
    }
  std::vector<std::vector<float>> acts;
  acts.push_back(Random(layers[0].in_size * batch, 99, 1.0f));
  for (const Layer& l : layers) acts.emplace_back(l.out_size * batch);
  double flops = 0;
  for (const Layer& l : layers) flops += l.flops;
  for (auto _ : state) {
    for (size_t i = 0; i < layers.size(); ++i) layers[i].Run(batch, acts[i].data(), acts[i + 1].data());
    for (float& p : acts.back()) p = 1.0f / (1.0f + std::exp(-p));  // sigmoid
    benchmark::DoNotOptimize(acts.back().data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * batch / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  std::string label;
  for (const Layer& l : layers) label += std::string(l.op ? l.op->name() : "ref") + " ";
  state.SetLabel(label);
}

void BenchLayer(benchmark::State& state, Backend be, int layer, int batch) {
  std::vector<Layer> layers = BuildCnn(be);
  Layer& l = layers[layer];
  if (be.kind != Kind::kReference && !l.op) {
    state.SkipWithError("backend refused the layer");
    return;
  }
  const auto in = Random(l.in_size * batch, 7, 1.0f);
  std::vector<float> out(l.out_size * batch);
  for (auto _ : state) {
    l.Run(batch, in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(l.flops * batch / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(l.op ? l.op->name() : "ref");
}

// The shipped catnet-aug model, as the page and the CLI run it (Model::Run, batch 1).
void BenchCatnet(benchmark::State& state, catdog::Backend backend) {
  const std::string dir = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug/";
  auto read = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  catdog::LoadOptions opt;
  opt.backend = backend;
  opt.threads = g_threads;
  std::unique_ptr<catdog::Model> m;
  catdog::Status s = catdog::Model::Parse(read(dir + "model.json"), &m, opt, dir + "model.json");
  std::vector<std::string> shards;
  std::vector<catdog::ShardBytes> views;
  if (s.ok()) {
    for (const std::string& p : m->shard_paths()) shards.push_back(read(dir + p));
    for (const std::string& b : shards) views.push_back({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
    s = m->LoadWeights(views);
  }
  if (!s.ok()) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  const auto in = Random(m->input_size(), 11, 1.0f);
  std::vector<float> out(m->output_size());
  for (auto _ : state) {
    m->Run(in.data(), 1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["images/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
}

// One of catnet-aug's depthwise layers (3x3 'same', stride 1, c channels on an n x n input).
void BenchDepthwise(benchmark::State& state, Backend be, int n, int c) {
  catdog::kernels::DepthwiseDesc d;
  d.in_h = d.in_w = d.out_h = d.out_w = n;
  d.channels = c;
  d.kh = d.kw = 3;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
  const auto w = Random(9 * static_cast<size_t>(c), 3, 0.5f);
  const auto in = Random(static_cast<size_t>(n) * n * c, 4, 1.0f);
  std::vector<float> out(in.size());
  std::unique_ptr<Op> op;
  if (be.kind == Kind::kSimd) op = catdog::kernels::simd::MakeDepthwiseFor(be.isa, d, w.data(), nullptr, g_threads);
  if (be.kind != Kind::kReference && !op) {
    state.SkipWithError("backend has no depthwise kernel");
    return;
  }
  for (auto _ : state) {
    if (op) {
      op->Run(1, in.data(), out.data());
    } else {
      catdog::kernels::DepthwiseRef(d, 1, in.data(), w.data(), nullptr, out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * 9 * n * n * c / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(op ? op->name() : "ref");
}

// DESIGN contract 1 on a camera frame: 640x480 RGBA -> center crop -> 100x100 gray.
void BenchPreprocess(benchmark::State& state, catdog::PixelFormat format, catdog::Fit fit, int w, int h) {
  const int bpp = static_cast<int>(format);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * bpp);
  std::mt19937 rng(5);
  for (auto& p : px) p = static_cast<uint8_t>(rng());
  const catdog::ImageView view{px.data(), w, h, w * bpp, format};
  std::vector<float> out(100 * 100);
  for (auto _ : state) {
    catdog::Status s = catdog::preprocess(view, fit, 100, out.data());
    if (!s.ok()) state.SkipWithError(s.message().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["Mpixel/s"] = benchmark::Counter(static_cast<double>(w) * h / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  // Our own flag first (Google Benchmark rejects flags it does not know).
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      g_threads = std::max(1, std::atoi(argv[i] + 10));
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::vector<Backend> backends;
  backends.push_back({"reference", Kind::kReference});
  for (const auto* isa : catdog::kernels::simd::AvailableIsas())
    backends.push_back({std::string("simd_") + isa->name, Kind::kSimd, isa});
  if (catdog::kernels::XnnpackAvailable()) backends.push_back({"xnnpack", Kind::kXnnpack});

  const char* layer_names[5] = {"conv1", "conv2", "conv3", "dense1", "dense2"};
  for (int batch : {1, 32}) {
    for (const Backend& be : backends) {
      auto* b = benchmark::RegisterBenchmark(("cnn/" + be.name + "/batch:" + std::to_string(batch)).c_str(),
                                            BenchCnn, be, batch);
      b->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
      if (be.kind == Kind::kReference) b->Iterations(batch == 1 ? 5 : 1)->Repetitions(3);
    }
  }
  for (int layer = 0; layer < 5; ++layer)
    for (const Backend& be : backends) {
      auto* b = benchmark::RegisterBenchmark(
          ("layer/" + std::string(layer_names[layer]) + "/" + be.name + "/batch:1").c_str(), BenchLayer, be, layer, 1);
      b->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
      if (be.kind == Kind::kReference) b->Iterations(5)->Repetitions(3);
    }
  for (catdog::Backend b : {catdog::Backend::kReference, catdog::Backend::kSimd, catdog::Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    benchmark::RegisterBenchmark((std::string("catnet/") + catdog::BackendName(b) + "/batch:1").c_str(), BenchCatnet, b)
        ->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
  }
  const int dw_shapes[5][2] = {{50, 32}, {25, 64}, {25, 128}, {12, 128}, {12, 256}};
  for (const auto& sh : dw_shapes)
    for (const Backend& be : backends) {
      if (be.kind == Kind::kXnnpack) continue;
      const std::string name = "dwconv/" + std::to_string(sh[0]) + "x" + std::to_string(sh[0]) + "x" +
                               std::to_string(sh[1]) + "/" + be.name;
      benchmark::RegisterBenchmark(name.c_str(), BenchDepthwise, be, sh[0], sh[1])
          ->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
    }
  benchmark::RegisterBenchmark("preprocess/640x480_rgba_crop_to_100", BenchPreprocess, catdog::PixelFormat::kRGBA8,
                               catdog::Fit::kCenterCrop, 640, 480)
      ->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
  benchmark::RegisterBenchmark("preprocess/180x180_rgb_stretch_to_100", BenchPreprocess, catdog::PixelFormat::kRGB8,
                               catdog::Fit::kStretch, 180, 180)
      ->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);
  std::printf("threads per op: %d\n", g_threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
