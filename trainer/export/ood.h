// Out-of-distribution threshold and rates (issue 16 item 5): pure math on scores, no I/O, so it is
// tested on synthetic numbers. The score is the core's catdog::OodScore (higher = less like a cat
// or a dog); an image is accepted as a cat/dog when its score is <= the threshold. `catdog
// ood-fit` and `catdog evaluate --ood-images` (ood_fit.h) use it.
#pragma once

#include <cstddef>
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

}  // namespace catdog::ood
