#include "optimiser.h"

#include <cmath>
#include <string>

namespace catdog::train {

void FlatParams::Init(Net& net) {
  params_.clear();
  for (torch::Tensor& p : net->parameters())
    if (p.requires_grad()) params_.push_back(p);
  int64_t total = 0;
  for (auto& p : params_) total += p.numel();
  auto opts = params_.front().options();
  flat_ = torch::empty({total}, opts);
  grad_ = torch::zeros({total}, opts);
  int64_t off = 0;
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    const int64_t n = p.numel();
    flat_.narrow(0, off, n).copy_(p.detach().reshape({-1}));
    p.set_data(flat_.narrow(0, off, n).view(p.sizes()));
    p.mutable_grad() = grad_.narrow(0, off, n).view(p.sizes());
    grad_ptrs_.push_back(p.grad().data_ptr());
    offsets_.push_back(off);
    off += n;
  }
}

void FlatParams::Gather() {
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    if (p.grad().defined() && p.grad().data_ptr() == grad_ptrs_[i]) continue;
    torch::Tensor slot = grad_.narrow(0, offsets_[i], p.numel()).view(p.sizes());
    torch::NoGradGuard no_grad;
    if (p.grad().defined()) slot.copy_(p.grad());
    else slot.zero_();
    p.mutable_grad() = slot;
  }
}

void FlatAdam::Init(FlatParams* params, double lr) {
  p_ = params;
  state_.m = torch::zeros_like(p_->flat());
  state_.v = torch::zeros_like(p_->flat());
  denom_ = torch::empty_like(p_->flat());
  auto dopts = p_->flat().options().dtype(torch::kDouble);
  step_t_ = torch::zeros({}, dopts);
  lr_t_ = torch::full({}, lr, dopts);
  state_.step = 0;
}

Status FlatAdam::Load(const AdamState& s) {
  if (!s.m.defined() || s.m.numel() != p_->numel() || s.v.numel() != p_->numel())
    return Status::Error("optimizer state does not match the model (" +
                         std::to_string(s.m.defined() ? s.m.numel() : 0) + " vs " + std::to_string(p_->numel()) +
                         " floats)");
  torch::NoGradGuard no_grad;
  state_.m.copy_(s.m);
  state_.v.copy_(s.v);
  state_.step = s.step;
  step_t_.fill_(double(s.step));
  return Status::Ok();
}

void FlatAdam::Step() {
  torch::NoGradGuard no_grad;
  step_t_.add_(1.0);
  torch::Tensor alpha =
      lr_t_ * torch::sqrt(1.0 - torch::pow(kAdamBeta2, step_t_)) / (1.0 - torch::pow(kAdamBeta1, step_t_));
  torch::Tensor& g = p_->grad();
  state_.m.mul_(kAdamBeta1).add_(g, 1.0 - kAdamBeta1);
  state_.v.mul_(kAdamBeta2).addcmul_(g, g, 1.0 - kAdamBeta2);
  torch::sqrt_out(denom_, state_.v).add_(kAdamEpsilon);
  denom_.reciprocal_().mul_(state_.m).mul_(alpha);
  p_->flat().sub_(denom_);
}

const AdamState& FlatAdam::state() {
  state_.step = int64_t(std::llround(step_t_.item<double>()));
  return state_;
}

}  // namespace catdog::train
