// Out-of-distribution threshold and rates: pure math on scores, no I/O, so it is
// tested on synthetic numbers. The score is the core's catdog::OodScore (higher = less like a cat
// or a dog); an image is accepted as a cat/dog when its score is <= the threshold. `catdog
// ood-fit` and `catdog evaluate --ood-images` (ood_fit.h) use it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace catdog::ood {

// The smallest threshold t among `in_scores` with at least `tpr` of them <= t (the in-distribution
// images accepted). NaN scores count as never accepted. `in_scores` must hold a finite value and
// 0 < tpr <= 1; otherwise NaN.
double ThresholdAtTpr(std::vector<float> in_scores, double tpr);

struct Acceptance {
  size_t n = 0;         // scores
  size_t accepted = 0;  // scores <= threshold (NaN never)
  double rate() const { return n ? double(accepted) / double(n) : 0.0; }
};
Acceptance Accepted(const std::vector<float>& scores, double threshold);

// Area under the ROC curve of telling `out_scores` (positives, should be high) from `in_scores`:
// P(out > in) + P(out == in) / 2; NaN when either list is empty. Threshold-free, for comparing
// scores on the choose part.
double Auroc(const std::vector<float>& in_scores, const std::vector<float>& out_scores);

// The split's images a score must not call "neither cat nor dog": those the model gets right with a
// calibrated P(dog) within kSure of 0 or 1 (the clearest cats and dogs). A score that rejects more
// than kMaxSureRejected of them shows the page's clearest cats as "No cat or dog" (a feature distance
// can: extreme features lie far from the class mean), which max-prob never does at a threshold
// above kSure.
constexpr double kSure = 0.05;
constexpr double kMaxSureRejected = 0.01;

// One score compared by `catdog ood-fit`: its threshold at the asked TPR and what it accepts.
struct OodCandidate {
  std::string method;
  double threshold = 0;
  Acceptance val, choose;
  double auroc = 0;
  size_t sure_rejected = 0;  // of the split's sure-and-right images, those scored above the threshold
};
// The score to write: `method` when it is not "auto"; with "auto", among the candidates that reject
// at most kMaxSureRejected of the `sure_right` images (all of them if none does), the one accepting
// the fewest choose photos, then the higher AUROC. nullptr when no candidate matches.
const OodCandidate* PickCandidate(const std::vector<OodCandidate>& cands, const std::string& method, size_t sure_right);

}  // namespace catdog::ood
