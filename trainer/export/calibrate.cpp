#include "calibrate.h"

#include <algorithm>
#include <cmath>

namespace catdog::calibrate {

double Logit(double p) {
  p = std::min(std::max(p, 1e-7), 1.0 - 1e-7);
  return std::log(p / (1.0 - p));
}

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

double FitTemperature(const std::vector<double>& logits, const std::vector<uint8_t>& labels) {
  if (logits.empty()) return 1.0;
  const double phi = (std::sqrt(5.0) - 1) / 2;  // 0.618...
  double a = std::log(1e-3), b = std::log(1e3);
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

}  // namespace catdog::calibrate
