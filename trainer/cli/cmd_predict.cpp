// `catdog predict --model DIR [--fit stretch|crop] [--json] [--flip] [--backend B] IMAGE...`: label, P(dog)
// and milliseconds per image (eval/predict.h does the work; this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "predict.h"

namespace catdog::cli {

void RegisterPredict(CLI::App& app) {
  auto args = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand("predict", "Classify photos: label, P(dog) and time per image");
  cmd->add_option("--model", args->model, "Folder holding model.json (or the model.json path)")->required();
  cmd->add_option("--fit", args->fit, "stretch or crop (default: what the model's metadata says, else stretch)")
      ->check(CLI::IsMember({"stretch", "crop"}));
  cmd->add_flag("--json", args->as_json, "Print one JSON document");
  cmd->add_flag("--flip", args->flip,
                "Mirror averaging: P(dog) is the mean of the calibrated P(dog) of the image and of its left-right "
                "mirror (as evaluate --flip and the page's option; 2x inference)");
  AddBackendOption(cmd, &args->backend, "Kernels");
  cmd->add_option("--threads", args->threads, "Kernel threads")->check(CLI::Range(1, 256))->capture_default_str();
  AddLayerAliasOption(cmd, &args->layer_aliases);
  cmd->add_option("--max-pixels", args->max_pixels, "Refuse images whose header claims more pixels (at most 268435456 are ever decoded: the preprocessing limit)")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 32))->capture_default_str();
  cmd->add_option("--selfcheck", args->selfcheck,
                  "The model's self-check after loading: fail (a mismatch is reported and the exit code is 3, "
                  "results are still printed), warn (reported only) or off")
      ->check(CLI::IsMember({"fail", "warn", "off"}))->capture_default_str();
  cmd->add_option("images", args->images, "Image files (JPEG, PNG, BMP, WebP)")->required();
  cmd->callback([args] { ExitCode() = RunPredict(*args); });
}

}  // namespace catdog::cli
