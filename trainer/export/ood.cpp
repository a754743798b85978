#include "ood.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace catdog::ood {

double ThresholdAtTpr(std::vector<float> in_scores, double tpr) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!(tpr > 0 && tpr <= 1) || in_scores.empty()) return nan;
  const size_t n = in_scores.size();
  in_scores.erase(std::remove_if(in_scores.begin(), in_scores.end(), [](float v) { return std::isnan(v); }),
                  in_scores.end());
  // k of n accepted needs k >= tpr * n (rounded up, with a little slack for 0.95 * 100 = 95.000001).
  const size_t k = size_t(std::ceil(tpr * double(n) - 1e-9));
  if (k == 0 || k > in_scores.size()) return nan;  // the NaNs alone keep the rate below tpr
  std::nth_element(in_scores.begin(), in_scores.begin() + long(k - 1), in_scores.end());
  return double(in_scores[k - 1]);
}

Acceptance Accepted(const std::vector<float>& scores, double threshold) {
  Acceptance a;
  a.n = scores.size();
  for (float s : scores) a.accepted += (!std::isnan(s) && double(s) <= threshold) ? 1 : 0;
  return a;
}

double Auroc(const std::vector<float>& in_scores, const std::vector<float>& out_scores) {
  if (in_scores.empty() || out_scores.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<float> in = in_scores;
  std::sort(in.begin(), in.end());
  double sum = 0;
  for (float o : out_scores) {
    const auto lo = std::lower_bound(in.begin(), in.end(), o), hi = std::upper_bound(in.begin(), in.end(), o);
    sum += double(lo - in.begin()) + 0.5 * double(hi - lo);
  }
  return sum / (double(in.size()) * double(out_scores.size()));
}

const OodCandidate* PickCandidate(const std::vector<OodCandidate>& cands, const std::string& method, size_t sure_right) {
  const auto keeps_sure = [&](const OodCandidate& c) {
    return double(c.sure_rejected) <= kMaxSureRejected * double(sure_right);
  };
  const bool any_keeps = std::any_of(cands.begin(), cands.end(), keeps_sure);
  const OodCandidate* pick = nullptr;
  for (const OodCandidate& c : cands) {
    if (method != "auto" ? c.method != method : any_keeps && !keeps_sure(c)) continue;
    if (!pick || c.choose.accepted < pick->choose.accepted ||
        (c.choose.accepted == pick->choose.accepted && c.auroc > pick->auroc))
      pick = &c;
  }
  return pick;
}

}  // namespace catdog::ood
