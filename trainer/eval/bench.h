// `catdog bench` (cli/cmd_bench.cpp): --model DIR [--backend reference|simd|xnnpack|auto] [--batch N]
// [--runs N] [--warmup N] [--threads N] [--json].
// Times Model::Run on seeded random input in [0,1): median / p90 / min wall-clock ms per call
// (and process CPU ms: on a shared machine wall time includes waiting for a core), images/s,
// and GFLOP/s, where FLOPs = 2 x the multiply-adds of the model's convolutions and dense layers,
// as the core reports them per layer (catdog.h LayerInfo, ModelInfo::macs).
#pragma once

#include <string>
#include <vector>

namespace catdog::cli {

struct BenchOptions {
  std::string model;
  std::string backend = "auto";
  int batch = 1;
  int runs = 200;
  int warmup = 20;
  int threads = 1;
  bool json = false;
  std::vector<std::string> layer_aliases;  // --layer-alias NAME=CLASS (catdog::ParseLayerAlias)
};

// Prints the timings (text, or one JSON object with `json`) on stdout, errors through spdlog;
// returns the exit code: 2 bad input (backend not in this build, a bad model), 1 a failed run, 0.
int RunBench(const BenchOptions& options);

}  // namespace catdog::cli
