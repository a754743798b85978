// What changes from epoch to epoch and when a run stops: the learning rate schedule, the seed of
// each epoch's randomness, and the stop rules (--until-loss, --patience). Pure functions of the
// options, torch-free, so the trainer's loop only asks.
#pragma once

#include <cstdint>
#include <string>

#include "train.h"

namespace catdog::train {

// Learning rate of a 1-based epoch: --lr, times half a cosine to 0 at the last epoch
// (--lr-schedule cosine), times a linear warm-up over the first --warmup-epochs.
double LearningRate(const TrainOptions& o, int epoch);

// The seed of one epoch's randomness (shuffle, augmentation, dropout): a pure function of
// (seed, epoch), which is what makes --resume exact.
uint64_t EpochSeed(uint64_t seed, int epoch);
// [dist] The seed of one rank's augmentation and dropout in an epoch of a data-parallel run, drawn
// after the epoch's order (the same permutation on every rank).
uint64_t RankEpochSeed(uint64_t seed, int epoch, int rank);

// After a finished epoch `e` with `bad_epochs` epochs since the best: the stop_reason that ends
// the run ("until-loss", "patience"), or "" to go on.
std::string StopRule(const TrainOptions& o, const EpochStats& e, int bad_epochs);

}  // namespace catdog::train
