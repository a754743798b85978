#include "calibrate.h"

#include <algorithm>
#include <cmath>

#include "catdog/catdog.h"

namespace catdog::calibrate {

double Logit(double p) { return CalibrationLogit(p); }

namespace {
// log(1 + exp(x)) without overflow.
double Softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
}  // namespace

double TemperatureNll(const std::vector<double>& logits, const std::vector<uint8_t>& labels, double temperature) {
  if (logits.empty()) return 0;
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i] / temperature;
    sum += labels[i] ? Softplus(-z) : Softplus(z);  // -log sigmoid(z) | -log(1 - sigmoid(z))
  }
  return sum / double(logits.size());
}

double TemperatureNllK(const std::vector<double>& log_probs, size_t k, const std::vector<uint8_t>& labels,
                       double temperature) {
  const size_t n = labels.size();
  if (n == 0 || k == 0) return 0;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double* z = log_probs.data() + i * k;
    double top = z[0] / temperature;
    for (size_t c = 1; c < k; ++c) top = std::max(top, z[c] / temperature);
    double norm = 0;
    for (size_t c = 0; c < k; ++c) norm += std::exp(z[c] / temperature - top);
    sum += top + std::log(norm) - z[labels[i]] / temperature;  // -log softmax(z / T)[label]
  }
  return sum / double(n);
}

namespace {
// Golden-section search of log T over [kMinTemperature, kMaxTemperature] for a unimodal `nll`.
template <typename F>
double GoldenSection(F nll) {
  const double phi = (std::sqrt(5.0) - 1) / 2;  // 0.618...
  double a = std::log(kMinTemperature), b = std::log(kMaxTemperature);
  double c = b - phi * (b - a), d = a + phi * (b - a);
  double fc = nll(std::exp(c)), fd = nll(std::exp(d));
  for (int it = 0; it < 200 && b - a > 1e-12; ++it) {
    if (fc <= fd) {
      b = d; d = c; fd = fc;
      c = b - phi * (b - a);
      fc = nll(std::exp(c));
    } else {
      a = c; c = d; fc = fd;
      d = a + phi * (b - a);
      fd = nll(std::exp(d));
    }
  }
  return std::exp((a + b) / 2);
}
}  // namespace

double FitTemperatureK(const std::vector<double>& log_probs, size_t k, const std::vector<uint8_t>& labels) {
  if (labels.empty()) return 1.0;
  return GoldenSection([&](double t) { return TemperatureNllK(log_probs, k, labels, t); });
}

double FitTemperature(const std::vector<double>& logits, const std::vector<uint8_t>& labels) {
  if (logits.empty()) return 1.0;
  const double phi = (std::sqrt(5.0) - 1) / 2;  // 0.618...
  double a = std::log(kMinTemperature), b = std::log(kMaxTemperature);
  double c = b - phi * (b - a), d = a + phi * (b - a);
  double fc = TemperatureNll(logits, labels, std::exp(c)), fd = TemperatureNll(logits, labels, std::exp(d));
  for (int it = 0; it < 200 && b - a > 1e-12; ++it) {
    if (fc <= fd) {
      b = d; d = c; fd = fc;
      c = b - phi * (b - a);
      fc = TemperatureNll(logits, labels, std::exp(c));
    } else {
      a = c; c = d; fc = fd;
      d = a + phi * (b - a);
      fd = TemperatureNll(logits, labels, std::exp(d));
    }
  }
  return std::exp((a + b) / 2);
}

const char* DegenerateFit(double t) {
  if (t <= kMinTemperature * 1.01)
    return "the fit ran to the lower end of the search (T = 0.001): the model gets every image of the split right "
           "with room to spare, so the loss keeps falling as T shrinks and no temperature is meaningful (a split "
           "the model was trained on?); calibrate on a held-out split (val)";
  if (t >= kMaxTemperature / 1.01)
    return "the fit ran to the upper end of the search (T = 1000): the model's outputs carry no information about "
           "this split's labels; check that the model and the pack belong together";
  return "";
}

double RescaleMaxProbThreshold(double threshold, double t_old, double t_new) {
  if (!(threshold > 0)) return threshold;          // rejects everything uncertain at all: same under any T
  if (threshold >= 0.5) return threshold;          // rejects nothing
  const double l0 = std::log((1 - threshold) / threshold);
  return 1 / (1 + std::exp(t_old * l0 / t_new));  // sigmoid(-t_old * l0 / t_new)
}

}  // namespace catdog::calibrate
