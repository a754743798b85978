// catdog bench --model DIR [--backend reference|simd|xnnpack|auto] [--batch N] [--runs N]
//               [--warmup N] [--threads N] [--json]
// Times Model::Run on seeded random input in [0,1): median / p90 / min wall-clock ms per call
// (and process CPU ms: on a shared machine wall time includes waiting for a core), images/s,
// and GFLOP/s, where FLOPs = 2 x the multiply-adds of the model's convolutions and dense layers,
// computed from the kernel shapes in the weightsManifest and the layers' output shapes.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "commands.h"
#include "fsutil.h"

namespace catdog::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string backend = "auto";
  int batch = 1;
  int runs = 200;
  int warmup = 20;
  int threads = 1;
  bool json = false;
};

// "conv2d (Conv2D) -> [98,98,32]  [kernel]" -> name "conv2d", dims {98,98,32}.
bool ParseSummaryLine(const std::string& line, std::string* name, std::vector<int64_t>* dims) {
  const size_t sp = line.find(" (");
  const size_t lb = line.find("-> [");
  if (sp == std::string::npos || lb == std::string::npos) return false;
  *name = line.substr(0, sp);
  dims->clear();
  const size_t rb = line.find(']', lb);
  if (rb == std::string::npos) return false;
  std::string inner = line.substr(lb + 4, rb - lb - 4);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string item = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (end == item.c_str()) return false;
    dims->push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

// FLOPs per sample of Conv2D / DepthwiseConv2D / SeparableConv2D / Dense, or 0 when the
// manifest and the layer shapes cannot be matched up. The shapes come from a reference-backend
// parse of model.json (a fast backend may report a conv with a fused pool at the pooled size).
double ModelFlops(const std::string& model_path) {
  std::string json_path = model_path;
  if (json_path.size() < 5 || json_path.compare(json_path.size() - 5, 5, ".json") != 0) json_path += "/model.json";
  std::string text;
  if (!fs::ReadTextFile(json_path, &text)) return 0;
  nlohmann::json j;
  if (!jsonb::Parse(text, &j, nullptr, json_path) || !j.contains("weightsManifest") || !j["weightsManifest"].is_array()) return 0;
  LoadOptions ref;
  ref.backend = Backend::kReference;
  std::unique_ptr<Model> parsed;
  if (!Model::Parse(text, &parsed, ref, json_path)) return 0;
  std::map<std::string, std::vector<int64_t>> out_dims;
  for (const std::string& line : parsed->info().layer_summary) {
    std::string name;
    std::vector<int64_t> dims;
    if (ParseSummaryLine(line, &name, &dims)) out_dims[name] = dims;
  }
  double flops = 0;
  for (const auto& group : j["weightsManifest"]) {
    if (!group.contains("weights") || !group["weights"].is_array()) continue;
    for (const auto& w : group["weights"]) {
      if (!w.contains("name") || !w["name"].is_string() || !w.contains("shape") || !w["shape"].is_array()) continue;
      const std::string name = w["name"].get<std::string>();
      const size_t slash = name.rfind('/');
      if (slash == std::string::npos) continue;
      const std::string leaf = name.substr(slash + 1);
      if (leaf != "kernel" && leaf != "depthwise_kernel" && leaf != "pointwise_kernel") continue;
      const std::string path = name.substr(0, slash);
      const std::string layer = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
      double macs = 1;
      for (const auto& d : w["shape"]) macs *= d.is_number() ? d.get<double>() : 0.0;
      auto it = out_dims.find(layer);
      if (w["shape"].size() == 4) {  // conv: x output positions
        if (it == out_dims.end() || it->second.size() != 3) return 0;
        macs *= static_cast<double>(it->second[0]) * it->second[1];
      }
      flops += 2 * macs;
    }
  }
  return flops;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  return v[i];
}

int RunBench(const BenchOptions& o) {
  static const std::map<std::string, Backend> kBackends = {
      {"reference", Backend::kReference}, {"simd", Backend::kSimd}, {"xnnpack", Backend::kXnnpack}, {"auto", Backend::kAuto}};
  LoadOptions lo;
  lo.backend = kBackends.at(o.backend);  // CLI11 checked membership
  lo.threads = o.threads;
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
  const double flops = ModelFlops(o.model);
  const double gflops = flops > 0 ? flops * o.batch / (med * 1e6) : 0;

  if (o.json) {
    nlohmann::json j = {{"model", o.model},
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
                        {"layers", model->info().layer_summary}};
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
      std::printf("GFLOP/s: n/a (could not derive the model's FLOPs from its manifest)\n");
  }
  return kExitOk;
}

}  // namespace

void RegisterBench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time Model::Run of a TF.js layers model: median/p90 ms, GFLOP/s");
  cmd->add_option("--model", o->model, "Directory holding model.json (or the model.json path)")->required();
  cmd->add_option("--backend", o->backend, "Kernels: reference, simd, xnnpack or auto")
      ->check(CLI::IsMember({"reference", "simd", "xnnpack", "auto"}));
  cmd->add_option("--batch", o->batch, "Samples per Run call")->check(CLI::Range(1, 4096));
  cmd->add_option("--runs", o->runs, "Timed Run calls")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", o->warmup, "Untimed Run calls first")->check(CLI::Range(0, 1000000));
  cmd->add_option("--threads", o->threads, "Worker threads per layer")->check(CLI::Range(1, 256));
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  cmd->callback([o] { ExitCode() = RunBench(*o); });
}

}  // namespace catdog::cli
