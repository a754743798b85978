#include "bench.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "catdog/catdog.h"
#include "exit_codes.h"
#include "fsutil.h"

namespace catdog::cli {
namespace {

nlohmann::json LayerInfoJson(const ModelInfo& info) {
  nlohmann::json a = nlohmann::json::array();
  for (const LayerInfo& l : info.layers)
    a.push_back({{"name", l.name}, {"class", l.class_name}, {"inputs", l.input_shapes}, {"output", l.output_shape},
                 {"weights", l.weight_count}, {"macs", l.macs}});
  return a;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int RunBench(const BenchOptions& o) {
  LoadOptions lo;
  if (!ParseBackend(o.backend, &lo.backend)) {
    spdlog::error("--backend '{}': must be reference, simd, xnnpack or auto", o.backend);
    return kExitBadInput;
  }
  lo.threads = o.threads;
  for (const std::string& a : o.layer_aliases)
    if (Status as = ParseLayerAlias(a, &lo); !as) {
      spdlog::error("{}", as.message());
      return kExitBadInput;
    }
  if (!BackendAvailable(lo.backend)) {
    spdlog::error("--backend {}: not available in this build", o.backend);
    return kExitBadInput;
  }
  std::unique_ptr<Model> model;
  Status s = fs::LoadModelDir(o.model, lo, &model);
  if (!s) {
    spdlog::error("{}", s.message());
    return kExitBadInput;
  }
  // A batch the model cannot run is bad input, refused before any run.
  std::vector<int64_t> shape = {o.batch};
  for (int64_t d : model->info().input_shape) shape.push_back(d);
  s = model->CheckInputShape(shape);
  if (!s) {
    spdlog::error("--batch {}: {}", o.batch, s.message());
    return kExitBadInput;
  }
  const size_t in_n = model->input_size() * static_cast<size_t>(o.batch);
  std::vector<float> input(in_n), output(model->output_size() * static_cast<size_t>(o.batch));
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& x : input) x = u(rng);

  for (int i = 0; i < o.warmup; ++i) {
    s = model->Run(input.data(), o.batch, output.data());
    if (!s) {
      spdlog::error("{}", s.message());
      return kExitFailure;
    }
  }
  std::vector<double> wall_ms, cpu_ms;
  wall_ms.reserve(o.runs);
  cpu_ms.reserve(o.runs);
  for (int i = 0; i < o.runs; ++i) {
    const std::clock_t c0 = std::clock();
    const auto t0 = std::chrono::steady_clock::now();
    s = model->Run(input.data(), o.batch, output.data());
    const auto t1 = std::chrono::steady_clock::now();
    const std::clock_t c1 = std::clock();
    if (!s) {
      spdlog::error("{}", s.message());
      return kExitFailure;
    }
    wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    cpu_ms.push_back(1000.0 * static_cast<double>(c1 - c0) / CLOCKS_PER_SEC);
  }
  const double med = Percentile(wall_ms, 0.5), p90 = Percentile(wall_ms, 0.9), mn = Percentile(wall_ms, 0.0);
  const double cpu_med = Percentile(cpu_ms, 0.5);
  // The core counts each layer's multiply-adds from model.json's layers (before any fusion), so
  // every backend is measured against the same work.
  const double flops = 2.0 * static_cast<double>(model->info().macs);
  const double gflops = flops > 0 ? flops * o.batch / (med * 1e6) : 0;

  if (o.json) {
    nlohmann::json j = {{"model", fs::JsonSafeName(o.model)},
                        {"backend", BackendName(model->backend())},
                        {"batch", o.batch},
                        {"threads", o.threads},
                        {"runs", o.runs},
                        {"median_ms", med},
                        {"p90_ms", p90},
                        {"min_ms", mn},
                        {"cpu_median_ms", cpu_med},
                        {"images_per_s", 1000.0 * o.batch / med},
                        {"mflop_per_image", flops / 1e6},
                        {"gflops", gflops},
                        {"kernels", DescribeKernels()},
                        {"layers", model->info().layer_summary},
                        {"layer_info", LayerInfoJson(model->info())}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("model %s: backend %s, batch %d, threads %d, %d runs (+%d warm-up)\n", o.model.c_str(),
                BackendName(model->backend()), o.batch, o.threads, o.runs, o.warmup);
    std::printf("  %s\n", DescribeKernels().c_str());
    for (const std::string& line : model->info().layer_summary) std::printf("  %s\n", line.c_str());
    std::printf("median %.3f ms  p90 %.3f ms  min %.3f ms  (process CPU median %.3f ms)  %.1f images/s\n", med, p90,
                mn, cpu_med, 1000.0 * o.batch / med);
    if (flops > 0)
      std::printf("%.1f MFLOP per image (conv + dense, 2 x multiply-adds): %.1f GFLOP/s at the median\n", flops / 1e6,
                  gflops);
    else
      std::printf("GFLOP/s: n/a (the model has no convolution or dense layer)\n");
  }
  return kExitOk;
}

}  // namespace catdog::cli
