// One sample's answer for K classes (catdog/classify.h, DESIGN contract 2): one owner for the CLI
// and the page.
#include "catdog/classify.h"

#include <cmath>
#include <limits>

#include "catdog/catdog.h"

namespace catdog {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// log(p) for p in (0, 1] from the frexp split p = m 2^e (m in [0.5, 1)) and log1p, which the layers
// already link: std::log in float would add libm code and tables to the page's wasm for one call per
// frame. Within 1e-7 of the double result.
float LogProb(float p) {
  int e = 0;
  const float m = std::frexp(p, &e);
  return std::log1p(m - 1.f) + static_cast<float>(e) * 0.693147180559945f;
}

// Length of the UTF-8 sequence at s[i] (1 to 4), or 0 when it is not valid UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF included).
size_t Utf8Length(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const unsigned char d = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0) || (c == 0xF0 && d < 0x90) || (c == 0xF4 && d >= 0x90))
    return 0;
  return n;
}

}  // namespace

std::string LabelProblem(std::string_view name) {
  if (name.empty() || name.size() > 64) return "is not 1 to 64 bytes long";
  if (name == "." || name == "..") return "is not a folder name";
  for (size_t i = 0; i < name.size();) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) return "holds a control character";
    if (c == '/' || c == '\\') return "holds a '/' or '\\' (a label names a folder)";
    const size_t n = Utf8Length(name, i);
    if (n == 0) return "is not valid UTF-8";
    i += n;
  }
  return "";
}

int ClassCount(const ModelInfo& info) { return static_cast<int>(info.labels.size()); }

int Decide(const ModelInfo& info, const float* probs) {
  const int k = ClassCount(info);
  for (int i = 0; i < k; ++i)
    if (std::isnan(probs[i])) return -1;
  if (k == 2) return probs[1] >= info.threshold ? 1 : 0;
  int best = 0;
  for (int i = 1; i < k; ++i)
    if (probs[i] > probs[best]) best = i;
  return best;
}

int Classify(const ModelInfo& info, const float* raw, size_t raw_size, float* probs) {
  const int k = ClassCount(info);
  bool bad = !(raw_size == 1 ? k == 2 : raw_size == static_cast<size_t>(k));
  for (size_t i = 0; !bad && i < raw_size; ++i) bad = std::isnan(raw[i]);
  if (bad) {
    for (int i = 0; i < k; ++i) probs[i] = kNaN;
    return -1;
  }
  if (raw_size == 1) {
    probs[1] = ApplyCalibration(info, raw[0]);
    probs[0] = 1.f - probs[1];
    return Decide(info, probs);
  }
  const bool biased = !info.class_bias.empty();
  if (info.temperature == 1.0 && !biased) {
    for (int i = 0; i < k; ++i) probs[i] = raw[i];
    return Decide(info, probs);
  }
  // softmax(log(p) / T + b), with p clamped to [1e-7, 1] as CalibrationLogit clamps a sigmoid's p,
  // b the class offsets (ModelInfo::class_bias, zero when absent) and the largest term subtracted
  // before exp.
  const float inv_t = static_cast<float>(1.0 / info.temperature);
  float top = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < k; ++i) {
    const float p = raw[i] < 1e-7f ? 1e-7f : raw[i] > 1.f ? 1.f : raw[i];
    probs[i] = LogProb(p) * inv_t + (biased ? info.class_bias[static_cast<size_t>(i)] : 0.f);
    if (probs[i] > top) top = probs[i];
  }
  float sum = 0;
  for (int i = 0; i < k; ++i) sum += (probs[i] = std::exp(probs[i] - top));
  for (int i = 0; i < k; ++i) probs[i] /= sum;
  return Decide(info, probs);
}

int ClassifyMirrored(const ModelInfo& info, const float* raw, const float* raw_mirrored, size_t raw_size,
                     float* probs) {
  const int k = ClassCount(info);
  if (Classify(info, raw, raw_size, probs) < 0 || Classify(info, raw_mirrored, raw_size, probs + k) < 0) {
    for (int i = 0; i < k; ++i) probs[i] = kNaN;
    return -1;
  }
  for (int i = 0; i < k; ++i) probs[i] = MirrorAverage(probs[i], probs[k + i]);
  return Decide(info, probs);
}

}  // namespace catdog
