// `catdog evaluate --model DIR (--pack PACK [--split test] | --images DIR) [--json] [--corruptions]`:
// accuracy, calibration and worst mistakes through the shared core (eval/evaluate.h does the work;
// this parses flags and makes one call).
#include <CLI/CLI.hpp>

#include <memory>

#include "commands.h"
#include "evaluate.h"
#include "flag_checks.h"

namespace catdog::cli {

void RegisterEvaluate(CLI::App& app) {
  auto a = std::make_shared<EvaluateOptions>();
  CLI::App* cmd = app.add_subcommand("evaluate", "Evaluate a TF.js model through the shared core on a pack or images");
  cmd->add_option("--model", a->model_dir, "Model directory (model.json + shards)")->required();
  cmd->add_option("--images", a->images, "Image folder with cat/dog class folders (needs OpenCV)");
  cmd->add_option("--pack", a->pack, "Dataset pack directory");
  AddSplitOption(cmd, &a->split, "Pack split: test | val | train", {"test", "val", "train"});
  cmd->add_flag("--json", a->json, "Print the report as JSON (web/report.js 'test' schema + worst mistakes)");
  cmd->add_flag("--uncalibrated", a->uncalibrated,
                "Report the raw model outputs (default: P(dog) calibrated by the model's stored temperature)");
  cmd->add_flag("--flip", a->flip,
                "Flip test-time averaging: average each image's probability with its left-right mirror's (2x inference)");
  cmd->add_option("--worst", a->worst, "How many worst mistakes to list")->check(CLI::Range(0, 100000))->capture_default_str();
  AddBackendOption(cmd, &a->backend, "Kernels");
  cmd->add_option("--batch", a->batch, "Inference batch size")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--threads", a->threads, "Core threads")->check(CLI::Range(1, 256))->capture_default_str();
  AddLayerAliasOption(cmd, &a->layer_aliases);
  cmd->add_flag("--corruptions", a->corruptions,
                "Also evaluate seeded corrupted copies of the split (blur, noise, low light, over-exposure, JPEG, "
                "motion blur, crop+zoom, rotation) at each severity (needs --pack and OpenCV)");
  cmd->add_option("--corruption-seed", a->corruption_seed, "Seed of the corruptions' random choices")
      ->check(Uint64Text)
      ->capture_default_str();
  cmd->add_option("--severities", a->severities, "Severities to run, 0 (unchanged) to 3")
      ->delimiter(',')
      ->check(CLI::Range(0, 3))
      ->capture_default_str();
  cmd->add_option("--ood-images", a->ood_images,
                  "Folder of non-animal photos: report the model's 'neither cat nor dog' TPR on the split and FPR on them "
                  "(needs catdog ood-fit's metadata and OpenCV)");
  cmd->callback([a] { ExitCode() = RunEvaluate(*a); });
}

}  // namespace catdog::cli
