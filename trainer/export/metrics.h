// Binary classification metrics for `catdog evaluate` (cat = 0, dog = 1, scores are P(dog)).
// Pure functions, no I/O: tested on small hand-computed cases.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace catdog::metrics {

struct CalibrationBin {
  double lo = 0, hi = 0;  // P(dog) range [lo, hi) (the last bin includes 1)
  size_t count = 0;
  double mean_p = 0;      // mean P(dog) of the samples in the bin (0 when empty)
  double frac_dog = 0;    // fraction of them that are dogs (0 when empty)
};

struct Report {
  size_t n = 0;
  double threshold = 0.5;          // predicted dog when P(dog) >= threshold
  double accuracy = 0;
  int64_t confusion[2][2] = {};    // [true label][predicted label]
  double precision[2] = {0, 0};    // per class; NaN when the class was never predicted
  double recall[2] = {0, 0};       // per class; NaN when the class has no samples
  double auc = 0;                  // ROC AUC (Mann-Whitney, ties count 1/2); NaN if a class is absent
  double ece = 0;                  // expected calibration error over `bins` equal-width P(dog) bins
  double log_loss = 0;             // mean binary cross-entropy, P clipped to [1e-7, 1 - 1e-7]
  std::vector<CalibrationBin> calibration;
};

// Fails on size mismatch, empty input, labels other than 0/1, scores outside [0,1] or NaN (the
// message names the index and value), bins < 1.
Status Compute(const std::vector<float>& p_dog, const std::vector<uint8_t>& labels, double threshold, int bins,
               Report* out);

// ROC AUC alone (NaN when one class is absent).
double RocAuc(const std::vector<float>& p_dog, const std::vector<uint8_t>& labels);

// Misclassified samples, most confident mistakes first (largest |P(dog) - label|), at most `n`.
std::vector<size_t> WorstMistakes(const std::vector<float>& p_dog, const std::vector<uint8_t>& labels,
                                  double threshold, size_t n);

// The report as JSON in web/report.js's "test" schema: accuracy, precision {cat,dog}, recall,
// confusion [[cat_as_cat, cat_as_dog], [dog_as_cat, dog_as_dog]], auc, ece, calibration bins,
// plus n, threshold, log_loss. NaN values become null.
nlohmann::json ToJson(const Report& r);

}  // namespace catdog::metrics
