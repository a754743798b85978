// Temperature scaling (Guo et al. 2017) for the sigmoid cat/dog models: pure math, no I/O, so the
// fit is tested on synthetic logits. `catdog calibrate` (calibrate_model.cpp) uses it.
#pragma once

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

}  // namespace catdog::calibrate
