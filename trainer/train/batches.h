// The training data on the device and the order an epoch visits it: the whole split lives on the
// device as uint8 [N,1,S,S]; a batch is an index_select from the epoch's order, converted to float
// there, so no host->device copy happens per step. Torch types: torch translation units only.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pack.h"

namespace catdog::train {

struct DeviceData {
  torch::Tensor x;       // uint8 [N,1,S,S]
  torch::Tensor y;        // float [N]: the class index (0/1 for two classes)
  torch::Tensor y_class;  // long [N]: the same
  int64_t n = 0;
};

// The pack's images `idx` (and their labels) on `device`.
DeviceData ToDevice(const pack::Pack& pack, const std::vector<size_t>& idx, const torch::Device& device);

// Images `idx` of `d` as float [len, 1, S, S] in [0, 1].
torch::Tensor Batch(const DeviceData& d, const torch::Tensor& idx);

// The training split's pack indices; `limit` > 0 keeps only that many, the first images of each
// class in turn (packs are sorted by class folder), so a quick run sees both classes.
std::vector<size_t> TrainingIndices(const pack::Pack& pack, int64_t limit);

// The order one epoch visits the n training images (int64 on `device`): a permutation drawn from
// the default generator, which the trainer has seeded with EpochSeed. Steps take consecutive
// slices of it.
torch::Tensor EpochOrder(int64_t n, const torch::Device& device);

}  // namespace catdog::train
