// The out-of-distribution score and its metadata (catdog.h, "out of distribution"): one owner for
// the CLI and the page.
#include <algorithm>
#include <cmath>

#include "catdog/catdog.h"
#include "ood_metadata.h"

namespace catdog {

float OodScoreOfCalibrated(float p_dog) {
  if (std::isnan(p_dog)) return p_dog;
  return std::min(p_dog, 1.f - p_dog);
}

float OodScore(const ModelInfo& info, float raw_p_dog) {
  return OodScoreOfCalibrated(ApplyCalibration(info, raw_p_dog));
}

bool IsOutOfDistribution(const ModelInfo& info, float raw_p_dog) {
  if (!info.has_ood) return false;
  const float s = OodScore(info, raw_p_dog);
  return std::isnan(s) || s > info.ood_threshold;
}

namespace detail {

Status ParseOodMetadata(const jsonu::json* catdog_meta, const std::string& source, ModelInfo* info) {
  info->has_ood = false;
  info->ood_method.clear();
  info->ood_threshold = 0;
  const jsonu::json* ood = catdog_meta ? jsonu::FindNonNull(*catdog_meta, "ood") : nullptr;
  if (!ood) return Status::Ok();
  const std::string where = source + ": userDefinedMetadata.catdog.ood";
  if (!ood->is_object()) return Status::Error(where + " " + jsonu::Dump(*ood) + " is not an object");
  const jsonu::json* m = jsonu::FindNonNull(*ood, "method");
  std::string method;
  if (!m || !jsonu::AsString(*m, &method) || method != kOodMethod)
    return Status::Error(where + ".method " + (m ? jsonu::Dump(*m) : std::string("(missing)")) + " is not \"" +
                         kOodMethod + "\", the one method this core knows");
  const jsonu::json* t = jsonu::FindNonNull(*ood, "threshold");
  double v = 0;
  // A max-prob score lies in [0, 0.5]: a threshold outside it would flag everything or nothing.
  if (!t || !jsonu::AsDouble(*t, &v) || !std::isfinite(v) || v < 0 || v > 0.5)
    return Status::Error(where + ".threshold " + (t ? jsonu::Dump(*t) : std::string("(missing)")) +
                         " is not a number in [0, 0.5]");
  info->has_ood = true;
  info->ood_method = method;
  info->ood_threshold = v;
  return Status::Ok();
}

}  // namespace detail
}  // namespace catdog
