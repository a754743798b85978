// `catdog infer --model DIR --input FILE --shape 1,H,W,C [--backend ...] [--threads N]`: a model's
// raw output as JSON (eval/infer.h does the work; this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "infer.h"

namespace catdog::cli {

void RegisterInfer(CLI::App& app) {
  auto opts = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Run a TF.js layers model on raw float32 input; print the output as JSON");
  cmd->add_option("--model", opts->model, "Model directory (holding model.json) or a model.json path")->required();
  cmd->add_option("--input", opts->input, "Raw little-endian float32 file, NHWC, batch first")->required();
  cmd->add_option("--shape", opts->shape, "Input shape with batch first, e.g. 1,100,100,1")->required();
  AddBackendOption(cmd, &opts->backend, "Compute backend");
  cmd->add_option("--threads", opts->threads, "Worker threads for the kernels")->check(CLI::Range(1, 256))->capture_default_str();
  AddLayerAliasOption(cmd, &opts->layer_aliases);
  cmd->add_option("--selfcheck", opts->selfcheck,
                  "The model's self-check after loading: fail (mismatch -> exit 3 after the output), warn or off")
      ->check(CLI::IsMember({"fail", "warn", "off"}))
      ->capture_default_str();
  cmd->callback([opts] { ExitCode() = RunInfer(*opts); });
}

}  // namespace catdog::cli
