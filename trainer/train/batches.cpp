#include "batches.h"

#include <cstring>

namespace catdog::train {

DeviceData ToDevice(const pack::Pack& pack, const std::vector<size_t>& idx, const torch::Device& device) {
  const int64_t S = pack.size, n = int64_t(idx.size());
  torch::Tensor x = torch::empty({n, 1, S, S}, torch::kUInt8);
  torch::Tensor y = torch::empty({n}, torch::kFloat);
  uint8_t* xp = x.data_ptr<uint8_t>();
  float* yp = y.data_ptr<float>();
  const size_t plane = size_t(S * S);
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(xp + size_t(i) * plane, pack.image(idx[size_t(i)]), plane);
    yp[i] = float(pack.labels[idx[size_t(i)]]);
  }
  DeviceData d;
  d.x = x.to(device);
  d.y = y.to(device);
  d.y_class = d.y.to(torch::kLong);
  d.n = n;
  return d;
}

torch::Tensor Batch(const DeviceData& d, const torch::Tensor& idx) {
  return d.x.index_select(0, idx).to(torch::kFloat).mul_(1.0 / 255.0);
}

std::vector<size_t> TrainingIndices(const pack::Pack& pack, int64_t limit) {
  std::vector<size_t> tr = pack.Indices(pack::kTrain);
  if (limit <= 0 || size_t(limit) >= tr.size()) return tr;
  std::vector<std::vector<size_t>> by_class(pack.class_names.size());
  for (size_t i : tr) by_class[pack.labels[i]].push_back(i);
  std::vector<size_t> picked;
  for (size_t k = 0; picked.size() < size_t(limit); ++k) {
    for (size_t c = 0; c < by_class.size() && picked.size() < size_t(limit); ++c)
      if (k < by_class[c].size()) picked.push_back(by_class[c][k]);
  }
  return picked;
}

torch::Tensor EpochOrder(int64_t n, const torch::Device& device) {
  return torch::randperm(n, torch::TensorOptions().device(device).dtype(torch::kLong));
}

}  // namespace catdog::train
