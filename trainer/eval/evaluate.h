// `catdog evaluate` (cli/cmd_evaluate.cpp): run a TF.js model through the shared core (what the
// browser computes) over a pack split or an image folder, and report accuracy, per-class
// precision/recall, the confusion matrix, ROC AUC, calibration (ECE, 10 bins) and the worst
// mistakes. With --corruptions (pack only, needs OpenCV), also the accuracy on seeded corrupted
// copies of the split (corruptions.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace catdog::cli {

struct EvaluateOptions {
  std::string model_dir;
  std::string images;
  std::string pack;
  std::string split = "test";
  std::string backend = "auto";
  bool json = false;
  bool uncalibrated = false;  // report the raw model outputs, ignoring the stored temperature
  // Flip test-time averaging: each image and its left-right mirror, the two (calibrated)
  // probabilities averaged; twice the inference.
  bool flip = false;
  size_t worst = 10;
  int batch = 32;
  int threads = 1;
  bool corruptions = false;
  uint64_t corruption_seed = 0;
  std::vector<int> severities = {1, 2, 3};
  std::string ood_images;  // non-animal photos: "neither cat nor dog" TPR/FPR (ood_fit.h)
  std::vector<std::string> layer_aliases;  // --layer-alias NAME=CLASS (catdog::ParseLayerAlias)
};

// Prints the report on stdout (text, or JSON with `json`), errors through spdlog; returns the
// exit code: 2 bad input, 1 failure (inference), 0.
int RunEvaluate(const EvaluateOptions& options);

}  // namespace catdog::cli
