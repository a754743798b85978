// What a run tells as it goes: the progress bar on a TTY, history rows (history.jsonl and the
// checkpoints' meta), the per-epoch TensorBoard scalars and log line. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "catdog/catdog.h"
#include "tensorboard.h"
#include "train.h"

namespace catdog::train {

// Progress bar on a TTY: steps, percent, rate, ETA. Writes at most ~10 times a second.
class ProgressBar {
 public:
  ProgressBar(bool on, int epoch, int epochs, int64_t steps);
  void Update(int64_t step, int64_t images);
  void Done();

 private:
  using Clock = std::chrono::steady_clock;
  bool on_;
  int epoch_, epochs_;
  int64_t steps_;
  Clock::time_point start_, last_;
};

// --progress: 1 on, 0 off, -1 = when stderr is a TTY.
bool ProgressWanted(int progress);

// UTC now as 2026-12-05T00:00:00Z (run cards).
std::string IsoNow();

// One history row (history.jsonl, the checkpoints' "history"); missing numbers read as 0.
nlohmann::json StatsJson(const EpochStats& e);
EpochStats StatsFromJson(const nlohmann::json& j);

// An epoch's scalars into TensorBoard as Keras' callback writes them (epochs 0-based; validation
// ones only when there is a validation split).
Status LogEpochScalars(tb::EventWriter& train, tb::EventWriter& validation, const EpochStats& e, bool has_val);
// The epoch's log line.
void LogEpochLine(const EpochStats& e, int epochs, bool improved);

}  // namespace catdog::train
