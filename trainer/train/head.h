// The classification head's maths, one place for training, validation and distillation: a
// two-class model has one logit per image (sigmoid, targets 0/1), a K-class model K logits
// (softmax, targets the class index). Logits are [N] or [N, K] (NetImpl::forward); targets `y` are
// float class indices [N] (DeviceData::y).
#pragma once

#include <torch/torch.h>

namespace catdog::train {

inline bool MultiClass(const torch::Tensor& logits) { return logits.dim() == 2; }

// Mean loss over the batch (reduction kMean) or its sum (kSum). smoothing: label smoothing eps —
// a binary target becomes y (1 - eps) + eps / 2, a K-class one (1 - eps) one-hot + eps / K.
inline torch::Tensor ClassLoss(const torch::Tensor& logits, const torch::Tensor& y, double smoothing = 0,
                               int64_t reduction = at::Reduction::Mean) {
  if (!MultiClass(logits)) {
    torch::Tensor t = smoothing > 0 ? y.mul(1.0 - smoothing).add(0.5 * smoothing) : y;
    return torch::binary_cross_entropy_with_logits(logits, t, {}, {}, reduction);
  }
  return torch::cross_entropy_loss(logits, y.to(torch::kLong), {}, reduction, -100, smoothing);
}

// Outlier exposure: the loss that pulls an outlier's output to "no class" (P = 0.5 for a sigmoid,
// the uniform distribution for a softmax), mean over the batch.
inline torch::Tensor UniformLoss(const torch::Tensor& logits) {
  if (!MultiClass(logits)) return torch::binary_cross_entropy_with_logits(logits, torch::full_like(logits, 0.5));
  return -torch::log_softmax(logits, 1).mean(1).mean();
}

// Probabilities: sigmoid [N] or softmax [N, K].
inline torch::Tensor Probs(const torch::Tensor& logits) {
  return MultiClass(logits) ? torch::softmax(logits, 1) : torch::sigmoid(logits);
}

// The class each image gets (long [N]): logit > 0 (P >= 0.5), or the largest logit.
inline torch::Tensor Predicted(const torch::Tensor& logits) {
  return MultiClass(logits) ? logits.argmax(1) : logits.gt(0).to(torch::kLong);
}

// Distillation: the loss of the student's logits / T against the teachers' soft targets `soft`
// (Probs of the teachers' logits / T, averaged), mean over the batch.
inline torch::Tensor SoftLoss(const torch::Tensor& logits_over_t, const torch::Tensor& soft) {
  if (!MultiClass(logits_over_t)) return torch::binary_cross_entropy_with_logits(logits_over_t, soft);
  return -(soft * torch::log_softmax(logits_over_t, 1)).sum(1).mean();
}

}  // namespace catdog::train
