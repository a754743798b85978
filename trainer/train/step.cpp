#include "step.h"

#include <algorithm>
#include <cmath>

#include "autocast.h"
#include "head.h"
#if CATDOG_FUSED_CUDA
#include "fused_ops.h"
#endif

namespace catdog::train {

TrainStep::TrainStep(const TrainOptions& options, const torch::Device& device, const DeviceData& train, Net& net,
                     FlatParams& flat, FlatAdam& adam, torch::Tensor& ema, bool fused)
    : o_(options), train_(train), net_(net), flat_(flat), adam_(adam), ema_(ema), fused_(fused), device_(device) {
  auto opts = torch::TensorOptions().device(device_);
  loss_sum_ = torch::zeros({}, opts.dtype(torch::kDouble));
  correct_ = torch::zeros({}, opts.dtype(torch::kLong));
  if (o_.corrupt > 0) corrupt_ = std::make_unique<WebcamCorrupt>(device_, o_.corrupt);
}

void TrainStep::operator()(const torch::Tensor& idx, int64_t len) {
  torch::Tensor x;
#if CATDOG_FUSED_CUDA
  if (fused_ && o_.augment) {
    x = GatherAugment(train_.x, idx, aug_);
  } else
#endif
  {
    x = Batch(train_, idx);
    if (o_.augment) x = AugmentBatch(x, aug_);
  }
  if (o_.photometric) x = PhotometricJitter(x);
  if (corrupt_) x = (*corrupt_)(x);
  if (o_.random_erase > 0) x = RandomErase(x, o_.random_erase);
  // Outlier exposure: synthetic outliers from this batch's (augmented) images join the forward.
  torch::Tensor xo;
  if (o_.outliers > 0)
    xo = SyntheticOutliers(x, std::clamp<int64_t>(std::llround(o_.outliers * double(x.size(0))), 1, x.size(0)));
  // One forward over both (BatchNorm sees them together); x stays a view of the real images.
  const int64_t n = x.size(0);
  torch::Tensor xin = xo.defined() ? torch::cat({x, xo}) : x;
  if (o_.channels_last) xin = xin.contiguous(torch::MemoryFormat::ChannelsLast);
  x = xin.narrow(0, 0, n);
  torch::Tensor y = train_.y.index_select(0, idx);
  torch::Tensor logits, loss;
  {
    AutocastScope ac(o_.bf16, device_);
    torch::Tensor all = net_->forward(xin).to(torch::kFloat);
    logits = all.narrow(0, 0, n);
    loss = ClassLoss(logits, y, o_.label_smoothing);
    if (xo.defined()) loss = loss + UniformLoss(all.narrow(0, n, xo.size(0))) * kOutlierWeight;
    if (!teachers.empty()) {
      const double T = o_.distill_temp, a = o_.distill_alpha;
      torch::Tensor soft;
      {
        torch::NoGradGuard no_grad;
        for (Net& t : teachers) {
          torch::Tensor p = Probs(t->forward(x).to(torch::kFloat) / T);
          soft = soft.defined() ? soft + p : p;
        }
        soft = soft / double(teachers.size());
      }
      loss = loss * (1 - a) + SoftLoss(logits / T, soft) * (a * T * T);
    }
  }
  flat_.grad().zero_();
  if (dist) {  // [dist] buckets all-reduce as backward fills them
    dist->BeginStep();
    loss.mul(grad_scale).backward();
  } else {
    loss.backward();
  }
  flat_.Gather();
  if (dist) dist->FinishStep();  // [dist] the summed gradients, before the optimiser
  adam_.Step();
  if (ema_.defined()) {
    torch::NoGradGuard no_grad;
    ema_.lerp_(flat_.flat(), 1.0 - o_.ema);
  }
  loss_sum_.add_(loss.detach(), double(len));
  correct_.add_(Predicted(logits.detach()).eq(train_.y_class.index_select(0, idx)).sum());
}

void TrainStep::EmptyStep() {
  flat_.grad().zero_();
  dist->BeginStep();
  dist->FinishStep();
  adam_.Step();
  if (ema_.defined()) {
    torch::NoGradGuard no_grad;
    ema_.lerp_(flat_.flat(), 1.0 - o_.ema);
  }
}

void TrainStep::ReduceSums() {
  if (!dist) return;
  dist->AllReduceSum(loss_sum_.view({1}));
  dist->AllReduceSum(correct_.view({1}));
}

void TrainStep::ZeroSums() {
  loss_sum_.zero_();
  correct_.zero_();
}

double TrainStep::MeanLoss() const { return loss_sum_.item<double>() / double(train_.n); }

double TrainStep::Accuracy() const { return double(correct_.item<int64_t>()) / double(train_.n); }

}  // namespace catdog::train
