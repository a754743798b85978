#include "metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace catdog::metrics {

double RocAuc(const std::vector<float>& p, const std::vector<uint8_t>& y) {
  const size_t n = std::min(p.size(), y.size());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double rank_sum = 0;
  size_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[order[j]] == p[order[i]]) ++j;
    const double avg_rank = (double(i + 1) + double(j)) / 2.0;
    for (size_t k = i; k < j; ++k)
      if (y[order[k]]) {
        rank_sum += avg_rank;
        ++pos;
      }
    i = j;
  }
  const size_t neg = n - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - double(pos) * double(pos + 1) / 2.0) / (double(pos) * double(neg));
}

Status Compute(const std::vector<float>& p, const std::vector<uint8_t>& y, double threshold, int bins, Report* out) {
  if (p.size() != y.size())
    return Status::Error("metrics: " + std::to_string(p.size()) + " scores for " + std::to_string(y.size()) + " labels");
  if (p.empty()) return Status::Error("metrics: no samples");
  if (bins < 1) return Status::Error("metrics: bins " + std::to_string(bins) + " must be >= 1");
  for (size_t i = 0; i < p.size(); ++i) {
    if (!(p[i] >= 0.f && p[i] <= 1.f))
      return Status::Error("metrics: score " + std::to_string(i) + " is " + std::to_string(p[i]) + ", not in [0,1]");
    if (y[i] > 1) return Status::Error("metrics: label " + std::to_string(i) + " is " + std::to_string(y[i]));
  }
  Report r;
  r.n = p.size();
  r.threshold = threshold;
  r.calibration.resize(size_t(bins));
  double ll = 0;
  for (int b = 0; b < bins; ++b) {
    r.calibration[size_t(b)].lo = double(b) / bins;
    r.calibration[size_t(b)].hi = double(b + 1) / bins;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const int pred = p[i] >= threshold ? 1 : 0;
    r.confusion[y[i]][pred]++;
    const double q = std::min(std::max(double(p[i]), 1e-7), 1 - 1e-7);
    ll -= y[i] ? std::log(q) : std::log(1 - q);
    int b = std::min(bins - 1, int(double(p[i]) * bins));
    CalibrationBin& cb = r.calibration[size_t(b)];
    cb.count++;
    cb.mean_p += p[i];
    cb.frac_dog += y[i];
  }
  const double n = double(r.n);
  r.accuracy = double(r.confusion[0][0] + r.confusion[1][1]) / n;
  r.log_loss = ll / n;
  for (int c = 0; c < 2; ++c) {
    const int64_t tp = r.confusion[c][c];
    const int64_t predicted = r.confusion[0][c] + r.confusion[1][c];
    const int64_t actual = r.confusion[c][0] + r.confusion[c][1];
    r.precision[c] = predicted ? double(tp) / double(predicted) : std::nan("");
    r.recall[c] = actual ? double(tp) / double(actual) : std::nan("");
  }
  r.ece = 0;
  for (CalibrationBin& cb : r.calibration) {
    if (cb.count == 0) continue;
    cb.mean_p /= double(cb.count);
    cb.frac_dog /= double(cb.count);
    r.ece += double(cb.count) / n * std::fabs(cb.frac_dog - cb.mean_p);
  }
  r.auc = RocAuc(p, y);
  *out = std::move(r);
  return Status::Ok();
}

std::vector<size_t> WorstMistakes(const std::vector<float>& p, const std::vector<uint8_t>& y, double threshold,
                                  size_t n) {
  std::vector<size_t> wrong;
  for (size_t i = 0; i < std::min(p.size(), y.size()); ++i)
    if ((p[i] >= threshold ? 1 : 0) != y[i]) wrong.push_back(i);
  std::stable_sort(wrong.begin(), wrong.end(), [&](size_t a, size_t b) {
    return std::fabs(double(p[a]) - y[a]) > std::fabs(double(p[b]) - y[b]);
  });
  if (wrong.size() > n) wrong.resize(n);
  return wrong;
}

nlohmann::json ToJson(const Report& r) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json cal = nlohmann::json::array();
  for (const CalibrationBin& b : r.calibration)
    cal.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}, {"mean_p", b.mean_p}, {"frac_dog", b.frac_dog}});
  return {{"n", r.n},
          {"threshold", r.threshold},
          {"accuracy", r.accuracy},
          {"precision", {{"cat", num(r.precision[0])}, {"dog", num(r.precision[1])}}},
          {"recall", {{"cat", num(r.recall[0])}, {"dog", num(r.recall[1])}}},
          {"confusion", {{r.confusion[0][0], r.confusion[0][1]}, {r.confusion[1][0], r.confusion[1][1]}}},
          {"auc", num(r.auc)},
          {"ece", num(r.ece)},
          {"log_loss", num(r.log_loss)},
          {"calibration", cal}};
}

}  // namespace catdog::metrics
