// The out-of-distribution scores and their metadata (catdog.h, "out of distribution"): one owner for
// the CLI and the page.
#include <algorithm>
#include <cmath>
#include <limits>

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

float FeatureDistance(const ModelInfo& info, const float* f, size_t n) {
  if (!f || n == 0 || info.ood_inv_var.size() != n || info.ood_means.size() != 2 * n)
    return std::numeric_limits<float>::quiet_NaN();
  float best = std::numeric_limits<float>::infinity();
  for (size_t c = 0; c < 2; ++c) {
    const float* mu = info.ood_means.data() + c * n;
    float sum = 0;
    for (size_t k = 0; k < n; ++k) {
      const float d = f[k] - mu[k];
      sum += d * d * info.ood_inv_var[k];
    }
    best = std::min(best, sum / static_cast<float>(n));
  }
  return best;
}

float ModelOodScore(const Model& model, int sample, float raw_p_dog) {
  const ModelInfo& info = model.info();
  if (!info.has_ood) return std::numeric_limits<float>::quiet_NaN();
  if (info.ood_method == kOodFeatureDistance) return FeatureDistance(info, model.features(sample), model.feature_size());
  return OodScore(info, raw_p_dog);
}

bool IsOutOfDistributionScore(const ModelInfo& info, float score) {
  return info.has_ood && (std::isnan(score) || score > info.ood_threshold);
}

bool IsOutOfDistribution(const Model& model, int sample, float raw_p_dog) {
  return IsOutOfDistributionScore(model.info(), ModelOodScore(model, sample, raw_p_dog));
}

namespace detail {
namespace {
// A JSON array of finite numbers into `out`; false on anything else.
bool FloatArray(const jsonu::json& j, std::vector<float>* out) {
  if (!j.is_array()) return false;
  out->clear();
  out->reserve(j.size());
  for (const auto& v : j) {
    double d = 0;
    if (!jsonu::AsDouble(v, &d) || !std::isfinite(d)) return false;
    out->push_back(static_cast<float>(d));
  }
  return true;
}
}  // namespace

Status ParseOodMetadata(const jsonu::json* catdog_meta, const std::string& source, ModelInfo* info) {
  info->has_ood = false;
  info->ood_method.clear();
  info->ood_threshold = 0;
  info->ood_means.clear();
  info->ood_inv_var.clear();
  const jsonu::json* ood = catdog_meta ? jsonu::FindNonNull(*catdog_meta, "ood") : nullptr;
  if (!ood) return Status::Ok();
  const std::string where = source + ": userDefinedMetadata.catdog.ood";
  if (!ood->is_object()) return Status::Error(where + " " + jsonu::Dump(*ood) + " is not an object");
  const jsonu::json* m = jsonu::FindNonNull(*ood, "method");
  std::string method;
  if (!m || !jsonu::AsString(*m, &method) || (method != kOodMaxProb && method != kOodFeatureDistance))
    return Status::Error(where + ".method " + (m ? jsonu::Dump(*m) : std::string("(missing)")) + " is not \"" +
                         kOodMaxProb + "\" or \"" + kOodFeatureDistance + "\"");
  const bool features = method == kOodFeatureDistance;
  const jsonu::json* t = jsonu::FindNonNull(*ood, "threshold");
  double v = 0;
  // A max-prob score lies in [0, 0.5]: a threshold outside it would flag everything or nothing.
  const double hi = features ? std::numeric_limits<double>::max() : 0.5;
  if (!t || !jsonu::AsDouble(*t, &v) || !std::isfinite(v) || v < 0 || v > hi)
    return Status::Error(where + ".threshold " + (t ? jsonu::Dump(*t) : std::string("(missing)")) +
                         (features ? " is not a finite number >= 0" : " is not a number in [0, 0.5]"));
  if (features) {
    const jsonu::json* iv = jsonu::FindNonNull(*ood, "inv_var");
    if (!iv || !FloatArray(*iv, &info->ood_inv_var) || info->ood_inv_var.empty() ||
        std::any_of(info->ood_inv_var.begin(), info->ood_inv_var.end(), [](float x) { return !(x >= 0); }))
      return Status::Error(where + ".inv_var " + (iv ? jsonu::Dump(*iv, 80) : std::string("(missing)")) +
                           " is not a non-empty array of finite numbers >= 0");
    const jsonu::json* mu = jsonu::FindNonNull(*ood, "means");
    std::vector<float> cat, dog;
    if (!mu || !mu->is_array() || mu->size() != 2 || !FloatArray((*mu)[0], &cat) || !FloatArray((*mu)[1], &dog) ||
        cat.size() != info->ood_inv_var.size() || dog.size() != cat.size())
      return Status::Error(where + ".means " + (mu ? jsonu::Dump(*mu, 80) : std::string("(missing)")) +
                           " is not two arrays (cat, dog) of " + std::to_string(info->ood_inv_var.size()) +
                           " finite numbers, as inv_var");
    info->ood_means = std::move(cat);
    info->ood_means.insert(info->ood_means.end(), dog.begin(), dog.end());
  }
  info->has_ood = true;
  info->ood_method = method;
  info->ood_threshold = v;
  return Status::Ok();
}

}  // namespace detail
}  // namespace catdog
