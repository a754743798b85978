// `catdog calibrate --model DIR --pack PACK [--split val] [--out DIR] [--json]`: temperature
// scaling stored in model.json (export/calibrate_model.h does the work; this parses flags and
// makes one call).
#include <CLI/CLI.hpp>

#include <memory>

#include "calibrate_model.h"
#include "commands.h"
#include "flag_checks.h"

namespace catdog::cli {

void RegisterCalibrate(CLI::App& app) {
  auto a = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit temperature scaling on a pack split and store it in the model's metadata");
  cmd->add_option("--model", a->model, "Model directory (model.json + shards) or its model.json")->required();
  cmd->add_option("--pack", a->pack, "Dataset pack directory")->required();
  AddSplitOption(cmd, &a->split, "Pack split to fit on: val | train | test", {"val", "train", "test"});
  cmd->add_option("--out", a->out,
                  "Write the calibrated model (model.json + its shards) to this new folder (default: in place); "
                  "never the model's folder or one holding it; an existing folder catdog did not write needs --force");
  cmd->add_flag("--force", a->force,
                "Write into an existing --out that catdog did not write: replaces only the model's files, keeps the rest");
  cmd->add_flag("--json", a->json, "Print the calibration as JSON");
  cmd->add_option("--keep-recall", a->keep_recall,
                  "K > 2 classes: LABEL[,LABEL...]=RATE, e.g. cat,dog=0.97: lower the other classes' calibrated logits by "
                  "the smallest offset that keeps RATE of the split's images of these classes called one of them "
                  "(stored as calibration.class_bias)");
  cmd->add_option("--batch", a->batch, "Inference batch size")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--threads", a->threads, "Core threads")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->callback([a] { ExitCode() = CalibrateModel(*a); });
}

}  // namespace catdog::cli
