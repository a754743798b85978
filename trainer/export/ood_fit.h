// "Neither cat nor dog" (issue 16 item 5), the parts that read files: scoring a folder of
// non-animal photos through the core, `catdog ood-fit` (choose the threshold on the validation
// split, report the choose photos, write userDefinedMetadata.catdog.ood atomically) and `catdog
// evaluate --ood-images` (TPR on the evaluated split, FPR on the measure photos). The score and
// the decision are the core's (catdog::OodScore, IsOutOfDistribution); the math is ood.h.
// Needs OpenCV (image decoding).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace catdog::ood {

// Raw model outputs of every image file directly in `dir` (sorted by name; .jpg .jpeg .png .bmp
// .webp), decoded by imaging::DecodeFile and preprocessed by the core with `fit`. Files that are
// not images or do not decode are listed in `skipped` ({path, reason}), never dropped silently.
struct FolderScores {
  std::vector<std::string> names;
  std::vector<float> raw;
  nlohmann::json skipped = nlohmann::json::array();
};
Status ScoreFolder(Model& model, const std::string& dir, Fit fit, int batch, FolderScores* out, bool* bad);

struct FitOptions {
  std::string model;         // folder or model.json; written in place
  std::string pack;
  std::string split = "val";
  std::string images;        // the "choose" photos (scripts/ood-photos: OUT/choose)
  double tpr = 0.95;
  int batch = 64;
  int threads = 1;
};
// Fits and writes; `report` gets the ood block written plus the model path. *bad: the failure was
// the input's (exit 2).
Status FitModel(const FitOptions& o, nlohmann::ordered_json* report, bool* bad);

// For `evaluate --ood-images DIR`: `p_dog` are the split's calibrated P(dog) (evaluate's scores),
// `split` names them. Needs the model's ood block. Fills `out` with threshold, TPR on the split,
// FPR on the photos (counts), and the photos accepted as a cat or a dog.
Status Measure(Model& model, Fit fit, int batch, const std::vector<float>& p_dog, const std::string& split,
               const std::string& dir, nlohmann::json* out, bool* bad);
// The lines `evaluate` prints for `Measure`'s result.
std::string MeasureText(const nlohmann::json& m);

}  // namespace catdog::ood
