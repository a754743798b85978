// Temperature scaling (Guo et al. 2017) for the sigmoid cat/dog models: pure math, no I/O, so the
// fit is tested on synthetic logits. `catdog calibrate` (calibrate_model.cpp) uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace catdog::calibrate {

// The core's catdog::CalibrationLogit (what ApplyCalibration divides by T): one formula.
double Logit(double p);

// Mean binary NLL of sigmoid(logit / temperature) against labels (0/1); computed stably from the
// logits (softplus), no clamping.
double TemperatureNll(const std::vector<double>& logits, const std::vector<uint8_t>& labels, double temperature);

// The T > 0 minimising TemperatureNll: golden-section search on log T over [1e-3, 1e3] (the NLL is
// convex in 1/T, hence unimodal in log T), 200 iterations, deterministic. Empty input -> 1.
double FitTemperature(const std::vector<double>& logits, const std::vector<uint8_t>& labels);

// K classes: `log_probs` holds n x k log-probabilities (the softmax's, clamped to >= 1e-7 as the core
// clamps them), image after image. Mean NLL of softmax(log_probs / temperature) against the class
// indices, and the T minimising it (the same search as FitTemperature).
double TemperatureNllK(const std::vector<double>& log_probs, size_t k, const std::vector<uint8_t>& labels,
                       double temperature);
double FitTemperatureK(const std::vector<double>& log_probs, size_t k, const std::vector<uint8_t>& labels);

// The search interval's ends. A fit that ends at one of them (within 1%) found no minimum: at the
// lower end the split is separated perfectly (every image right, so the NLL falls towards 0 as T
// does: no temperature is meaningful, typically the training split), at the upper end the model's
// outputs carry no information about the labels. `catdog calibrate` refuses both, naming them.
constexpr double kMinTemperature = 1e-3, kMaxTemperature = 1e3;
// "" for a fit inside the interval, else why the fit is degenerate.
const char* DegenerateFit(double temperature);

// The max-prob "neither cat nor dog" threshold (on min(p, 1 - p) of the calibrated P(dog)) that makes
// the same decisions under temperature `t_new` as `threshold` did under `t_old`: the score is a
// function of |logit| / T, so min(p, 1 - p) > t0 under T0 <=> |logit| < T0 * L0 with
// L0 = log((1 - t0) / t0) <=> the score under T1 > sigmoid(-T0 * L0 / T1).
double RescaleMaxProbThreshold(double threshold, double t_old, double t_new);

}  // namespace catdog::calibrate
