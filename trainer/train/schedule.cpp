#include "schedule.h"

#include <cmath>

namespace catdog::train {

namespace {
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

double LearningRate(const TrainOptions& o, int epoch) {
  double lr = o.lr;
  if (o.lr_schedule == "cosine" && o.epochs > 1)
    lr *= 0.5 * (1.0 + std::cos(M_PI * double(epoch - 1) / double(o.epochs)));
  if (o.warmup_epochs > 0 && epoch <= o.warmup_epochs) lr *= double(epoch) / double(o.warmup_epochs);
  return lr;
}

uint64_t EpochSeed(uint64_t seed, int epoch) { return SplitMix64(seed * 0x100000001B3ull + uint64_t(epoch)); }

uint64_t RankEpochSeed(uint64_t seed, int epoch, int rank) {
  return SplitMix64(EpochSeed(seed, epoch) ^ (uint64_t(rank) + 1) * 0xD1B54A32D192ED03ull);
}

std::string StopRule(const TrainOptions& o, const EpochStats& e, int bad_epochs) {
  if (o.until_loss >= 0 && e.loss <= o.until_loss) return "until-loss";
  if (o.patience > 0 && bad_epochs >= o.patience) return "patience";
  return "";
}

}  // namespace catdog::train
