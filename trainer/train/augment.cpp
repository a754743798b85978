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

namespace {

// Per-sample depthwise convolution: x [N,C,H,W], k [N,1,kh,kw] (one kernel per sample, odd sizes),
// replicate padding so the borders keep their level.
torch::Tensor PerSampleConv(const torch::Tensor& x, const torch::Tensor& k) {
  const int64_t n = x.size(0), c = x.size(1), kh = k.size(2), kw = k.size(3);
  // [N*C,1,kh,kw], sample-major like x's channels below (expand, not repeat_interleave: no host sync)
  torch::Tensor w = k.expand({n, c, kh, kw}).reshape({n * c, 1, kh, kw});
  torch::Tensor xp = F::pad(x, F::PadFuncOptions({kw / 2, kw / 2, kh / 2, kh / 2}).mode(torch::kReplicate));
  xp = xp.reshape({1, n * c, xp.size(2), xp.size(3)});
  return F::conv2d(xp, w, F::Conv2dFuncOptions().groups(n * c)).reshape(x.sizes());
}

// The JPEG standard's luminance quantisation table (ITU-T T.81 Annex K, table K.1), row-major.
constexpr float kJpegLuma[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                 14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                 18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};

// JPEG-like loss on the luma plane: level shift, 8x8 orthonormal DCT per block, rounding to the
// quality-scaled table (libjpeg's scaling: 5000/q below 50, then floor and clamp to 1..255),
// inverse DCT. Images are padded by replication to a multiple of 8 and cropped back.
torch::Tensor JpegLike(const torch::Tensor& x, const torch::Tensor& quality, const torch::Tensor& D,
                       const torch::Tensor& table) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t H = (h + 7) / 8 * 8, W = (w + 7) / 8 * 8;
  torch::Tensor scale = torch::where(quality.lt(50), 5000.0 / quality, 200.0 - 2 * quality).div(100.0);
  torch::Tensor q = (table.view({1, 1, 8, 8}) * scale.view({n, 1, 1, 1})).floor().clamp_(1.0, 255.0) / 255.0;
  torch::Tensor xp = F::pad(x, F::PadFuncOptions({0, W - w, 0, H - h}).mode(torch::kReplicate)) - 0.5;
  // [N,C,H/8,8,W/8,8] -> blocks [N,C,H/8,W/8,8,8]
  torch::Tensor b = xp.reshape({n, c, H / 8, 8, W / 8, 8}).permute({0, 1, 2, 4, 3, 5});
  torch::Tensor coef = torch::matmul(torch::matmul(D, b), D.t());
  torch::Tensor qn = q.view({n, 1, 1, 1, 8, 8});
  coef = torch::round(coef / qn) * qn;
  b = torch::matmul(torch::matmul(D.t(), coef), D);
  torch::Tensor y = b.permute({0, 1, 2, 4, 3, 5}).reshape({n, c, H, W}) + 0.5;
  return y.narrow(2, 0, h).narrow(3, 0, w);
}

}  // namespace

WebcamCorrupt::WebcamCorrupt(const torch::Device& device, double prob) : prob_(prob) {
  torch::Tensor i = torch::arange(8, torch::kDouble).view({8, 1}), j = torch::arange(8, torch::kDouble).view({1, 8});
  torch::Tensor D = torch::cos((2 * j + 1) * i * (M_PI / 16)) * std::sqrt(2.0 / 8);
  D[0].div_(std::sqrt(2.0));
  dct_ = D.to(torch::kFloat).to(device);
  jpeg_table_ = torch::from_blob(const_cast<float*>(kJpegLuma), {8, 8}, torch::kFloat).clone().to(device);
}

torch::Tensor WebcamCorrupt::operator()(const torch::Tensor& x) const {
  TORCH_CHECK(x.dim() == 4, "WebcamCorrupt: expected [N,C,H,W], got ", x.sizes());
  const int64_t n = x.size(0);
  auto opts = x.options();
  torch::Tensor u = torch::rand({6, n, 1, 1, 1}, opts);
  torch::Tensor kind = torch::randint(0, 6, {n, 1, 1, 1}, opts.dtype(torch::kLong));
  torch::Tensor apply = u[0].lt(prob_);
  constexpr int64_t R = 7;  // kernel radius: 15 taps cover sigma 3 to 2.3 sigma and 15 px of motion
  torch::Tensor t = torch::arange(-R, R + 1, opts);
  // 0: Gaussian blur, separable.
  torch::Tensor sigma = u[1].mul(2.6).add_(0.4).view({n, 1, 1});
  torch::Tensor g = torch::exp(-(t * t).view({1, 1, 2 * R + 1}) / (2 * sigma * sigma));
  g = g / g.sum(-1, true);
  torch::Tensor blur = PerSampleConv(PerSampleConv(x, g.view({n, 1, 1, 2 * R + 1})), g.view({n, 1, 2 * R + 1, 1}));
  // 1: motion blur, a line of `len` pixels through the centre at angle `ang`, anti-aliased.
  torch::Tensor len = u[2].mul(12).add_(3).view({n, 1, 1}), ang = u[3].mul(M_PI).view({n, 1, 1});
  torch::Tensor yy = t.view({1, 2 * R + 1, 1}), xx = t.view({1, 1, 2 * R + 1});
  torch::Tensor along = xx * torch::cos(ang) + yy * torch::sin(ang);
  torch::Tensor across = (-xx * torch::sin(ang) + yy * torch::cos(ang)).abs();
  torch::Tensor line = (1 - across).clamp_min(0) * (len / 2 + 0.5 - along.abs()).clamp(0, 1);
  line = line / line.sum({1, 2}, true);
  torch::Tensor motion = PerSampleConv(x, line.unsqueeze(1));
  // 2: Gaussian noise.
  torch::Tensor noise = x + torch::randn_like(x) * u[4].mul(0.11).add_(0.02);
  // 3: low light; 4: over-exposure (u[5] and u[1..2] reused: the kinds are exclusive per sample).
  torch::Tensor low = x.clamp_min(1e-6).pow(u[5].mul(1.6).add_(1.2)) * u[1].mul(0.65).add_(0.3);
  torch::Tensor over = x * u[5].mul(1.6).add_(1.2) + u[2].mul(0.25);
  // 5: JPEG-like blocks.
  torch::Tensor jpeg = JpegLike(x, u[4].mul(37).add_(8), dct_.to(x.scalar_type()), jpeg_table_.to(x.scalar_type()));
  torch::Tensor y = x;
  const torch::Tensor variants[] = {blur, motion, noise, low, over, jpeg};
  for (int64_t k = 0; k < 6; ++k) y = torch::where(apply & kind.eq(k), variants[k], y);
  return y.clamp(0.0, 1.0);
}

}  // namespace catdog::train


namespace catdog::train {

torch::Tensor JigsawOutliers(const torch::Tensor& x, int64_t k) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) == x.size(3) && x.size(2) >= 4, "JigsawOutliers: expected [N,C,S,S], S >= 4, got ",
              x.sizes());
  TORCH_CHECK(k >= 1 && k <= x.size(0), "JigsawOutliers: k ", k, " must be in 1..", x.size(0));
  constexpr int64_t G = 4;  // tiles per side
  const int64_t C = x.size(1), S = x.size(2), T = S / G;
  // [k, C, G, T, G, T] -> [k * G * G, C, T, T]: tile (i, r, c) at row i * G * G + r * G + c.
  torch::Tensor src = x.narrow(0, 0, k).narrow(2, 0, G * T).narrow(3, 0, G * T);
  torch::Tensor tiles = src.reshape({k, C, G, T, G, T}).permute({0, 2, 4, 1, 3, 5}).reshape({k * G * G, C, T, T});
  // Each output tile: a random source image and a random grid position (with repeats).
  torch::Tensor pick = torch::randint(0, k * G * G, {k * G * G}, x.options().dtype(torch::kLong));
  torch::Tensor mixed = tiles.index_select(0, pick).reshape({k, G, G, C, T, T}).permute({0, 3, 1, 4, 2, 5})
                            .reshape({k, C, G * T, G * T});
  if (G * T == S) return mixed.contiguous();
  torch::Tensor out = x.narrow(0, 0, k).clone();
  out.narrow(2, 0, G * T).narrow(3, 0, G * T).copy_(mixed);
  return out;
}

torch::Tensor SmoothOutliers(int64_t k, int64_t channels, int64_t size, const torch::TensorOptions& opts) {
  torch::Tensor coarse = torch::rand({k, channels, 4, 4}, opts);
  torch::Tensor img = F::interpolate(coarse, F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{size, size})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
  torch::Tensor contrast = torch::rand({k, 1, 1, 1}, opts).mul_(0.9).add_(0.1);
  torch::Tensor mean = img.mean({1, 2, 3}, /*keepdim=*/true);
  return ((img - mean) * contrast + mean).clamp_(0.0, 1.0);
}

torch::Tensor SyntheticOutliers(const torch::Tensor& x, int64_t k) {
  torch::Tensor jig = JigsawOutliers(x, k);
  torch::Tensor smooth = SmoothOutliers(k, x.size(1), x.size(2), x.options());
  torch::Tensor use_jig = torch::rand({k, 1, 1, 1}, x.options()).lt(0.75);
  return torch::where(use_jig, jig, smooth);
}

}  // namespace catdog::train
