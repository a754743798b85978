// `catdog bench --model DIR [--backend B] [--batch N] [--runs N] [--warmup N] [--threads N] [--json]`:
// Model::Run timings and GFLOP/s (eval/bench.h does the work; this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <memory>

#include "bench.h"
#include "commands.h"
#include "flag_checks.h"

namespace catdog::cli {

void RegisterBench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time Model::Run of a TF.js layers model: median/p90 ms, GFLOP/s");
  cmd->add_option("--model", o->model, "Directory holding model.json (or the model.json path)")->required();
  AddBackendOption(cmd, &o->backend, "Kernels");
  cmd->add_option("--batch", o->batch, "Samples per Run call")->check(CLI::Range(1, 4096));
  cmd->add_option("--runs", o->runs, "Timed Run calls")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", o->warmup, "Untimed Run calls first")->check(CLI::Range(0, 1000000));
  cmd->add_option("--threads", o->threads, "Worker threads per layer")->check(CLI::Range(1, 256));
  AddLayerAliasOption(cmd, &o->layer_aliases);
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  cmd->callback([o] { ExitCode() = RunBench(*o); });
}

}  // namespace catdog::cli
