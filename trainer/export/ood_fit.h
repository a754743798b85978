// "Neither cat nor dog", the parts that read files: scoring a folder of
// non-animal photos through the core, `catdog ood-fit` (fit the feature statistics on the
// training split, choose each score's threshold on the validation split, compare the scores on
// the choose photos, write the better one into userDefinedMetadata.catdog.ood atomically) and
// `catdog evaluate --ood-images` (TPR on the evaluated split, FPR on the measure photos). The
// scores and the decision are the core's (catdog.h "out of distribution"); the math is ood.h.
// Needs OpenCV (image decoding).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace catdog::ood {

// Raw model outputs and penultimate features of every image file directly in `dir` (sorted by
// name; .jpg .jpeg .png .bmp .webp), decoded by imaging::DecodeFile and preprocessed by the core
// with `fit`. Files that are not images or do not decode are listed in `skipped` ({path,
// reason}), never dropped silently.
struct FolderScores {
  std::vector<std::string> names;
  std::vector<float> raw;
  std::vector<float> features;  // raw.size() x model.feature_size()
  nlohmann::json skipped = nlohmann::json::array();
};
Status ScoreFolder(Model& model, const std::string& dir, Fit fit, int batch, FolderScores* out, bool* bad);

struct FitOptions {
  std::string model;         // folder or model.json; written in place
  std::string pack;
  std::string split = "val";
  std::string images;        // the "choose" photos (scripts/ood-photos: OUT/choose)
  std::string method = "auto";  // auto (ood.h PickCandidate) | max-prob | feature-distance
  double tpr = 0.95;
  int batch = 64;
  int threads = 1;
};
// Fits and writes; `report` gets the ood block written (with every compared score) plus the model
// path. *bad: the failure was the input's (exit 2).
Status FitModel(const FitOptions& o, nlohmann::ordered_json* report, bool* bad);

// For `evaluate --ood-images DIR`: runs the evaluated split again (`count` samples of S*S bytes,
// `pixels(i)`; `split` names it) and the photos, deciding through catdog::IsOutOfDistribution.
// Needs the model's ood block. Fills `out` with method, threshold, TPR on the split, FPR on the
// photos (counts), AUROC, and the photos accepted as a cat or a dog.
Status Measure(Model& model, Fit fit, int batch, size_t count, const std::function<const uint8_t*(size_t)>& pixels,
               const std::string& split, const std::string& dir, nlohmann::json* out, bool* bad);
// The lines `evaluate` prints for `Measure`'s result.
std::string MeasureText(const nlohmann::json& m);

}  // namespace catdog::ood
