#include "augment.h"

#include <cmath>

namespace catdog::train {

namespace F = torch::nn::functional;

torch::Tensor AugmentThetas(int64_t n, int64_t size, const AugmentParams& p, const torch::Device& device) {
  const double kDeg = M_PI / 180.0;
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  // One draw for everything: rotation, row shift, col shift, shear, zoom rows, zoom cols, flips.
  torch::Tensor u = torch::rand({8, n}, opts);
  auto sym = [&](int i, double r) { return u[i].mul(2.0).sub_(1.0).mul_(r); };
  torch::Tensor rot = sym(0, p.rotation_deg * kDeg);
  // Keras: tx (rows) from height_shift_range * h, ty (cols) from width_shift_range * w, in pixels.
  // Normalized coordinates (align_corners) span 2 / (size - 1) per pixel.
  const double px = size > 1 ? 2.0 / double(size - 1) : 0.0;
  torch::Tensor tx = sym(1, p.height_shift * double(size) * px);
  torch::Tensor ty = sym(2, p.width_shift * double(size) * px);
  torch::Tensor shear = sym(3, p.shear_deg * kDeg);
  torch::Tensor zx = u[4].mul(p.zoom_hi - p.zoom_lo).add_(p.zoom_lo);
  torch::Tensor zy = u[5].mul(p.zoom_hi - p.zoom_lo).add_(p.zoom_lo);
  // +1 / -1 per sample: flipping the output negates that input-coordinate column of theta.
  torch::Tensor fx = u[6].lt(p.hflip_prob).to(torch::kFloat).mul_(-2.0).add_(1.0);
  torch::Tensor fy = u[7].lt(p.vflip_prob).to(torch::kFloat).mul_(-2.0).add_(1.0);
  // Keras (row, col) matrix M = R(rot) @ T(tx, ty) @ Shear(shear) @ Zoom(zx, zy):
  //   L = [[c zx, -zy sin(rot + shear)], [s zx, zy cos(rot + shear)]],
  //   t = [c tx - s ty, s tx + c ty].
  torch::Tensor c = rot.cos(), s = rot.sin();
  torch::Tensor rs = rot + shear;
  torch::Tensor l00 = c * zx, l01 = -zy * rs.sin(), l10 = s * zx, l11 = zy * rs.cos();
  torch::Tensor t0 = c * tx - s * ty, t1 = s * tx + c * ty;
  // affine_grid works in (x = col, y = row): swap axes.
  torch::Tensor theta = torch::stack({l11 * fx, l10 * fy, t1, l01 * fx, l00 * fy, t0}, 1);
  return theta.view({n, 2, 3});
}

torch::Tensor AugmentBatch(const torch::Tensor& x, const AugmentParams& p) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) == x.size(3), "AugmentBatch: expected [N,C,S,S], got ", x.sizes());
  torch::Tensor theta = AugmentThetas(x.size(0), x.size(2), p, x.device()).to(x.scalar_type());
  torch::Tensor grid = F::affine_grid(theta, x.sizes(), /*align_corners=*/true);
  return F::grid_sample(x, grid,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(true));
}

torch::Tensor RandomErase(const torch::Tensor& x, double prob) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) == x.size(3), "RandomErase: expected [N,C,S,S], got ", x.sizes());
  const int64_t n = x.size(0), S = x.size(2);
  auto opts = x.options();
  torch::Tensor u = torch::rand({6, n, 1, 1, 1}, opts);
  const double log_lo = std::log(0.3), log_hi = std::log(1.0 / 0.3);
  torch::Tensor area = u[0].mul(0.23).add_(0.02).mul_(double(S * S));
  torch::Tensor ratio = u[1].mul(log_hi - log_lo).add_(log_lo).exp_();
  torch::Tensor h = (area * ratio).sqrt_().clamp_max_(double(S));
  torch::Tensor w = (area / ratio).sqrt_().clamp_max_(double(S));
  torch::Tensor top = u[2] * (double(S) - h), left = u[3] * (double(S) - w);
  torch::Tensor pos = torch::arange(S, opts).add_(0.5);  // pixel centres
  torch::Tensor rows = pos.view({1, 1, S, 1}), cols = pos.view({1, 1, 1, S});
  torch::Tensor mask = rows.ge(top) & rows.lt(top + h) & cols.ge(left) & cols.lt(left + w) & u[4].lt(prob);
  return torch::where(mask, u[5].expand_as(x), x);
}

torch::Tensor PhotometricJitter(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "PhotometricJitter: expected [N,C,H,W], got ", x.sizes());
  const int64_t n = x.size(0);
  torch::Tensor u = torch::rand({6, n, 1, 1, 1}, x.options());
  torch::Tensor gamma = u[0].sub(0.5).exp_();
  torch::Tensor y = x.clamp_min(1e-6).pow(gamma);
  torch::Tensor mean = y.mean({1, 2, 3}, /*keepdim=*/true);
  y = (y - mean) * u[1].mul(0.6).add_(0.7) + mean + u[2].mul(0.3).sub_(0.15);
  torch::Tensor blurred = F::avg_pool2d(y, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
  torch::Tensor blur_w = u[3] * u[4].lt(0.5).to(x.scalar_type());
  y = y + blur_w * (blurred - y);
  y = y + torch::randn_like(y) * u[5].mul(0.04);
  return y.clamp_(0.0, 1.0);
}

}  // namespace catdog::train
