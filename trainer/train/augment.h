// Data augmentation equal in distribution to the tutorial's Keras ImageDataGenerator(
//   rotation_range=30, width_shift_range=0.2, height_shift_range=0.2, shear_range=15,
//   zoom_range=[0.7, 1.4], horizontal_flip=True, vertical_flip=True, fill_mode='nearest'),
// done for a whole batch at once on the batch's device: one random draw, the Keras transform
// matrices (rotation @ shift @ shear @ zoom about the image centre, then the flips) built with a
// few elementwise ops, then affine_grid + grid_sample (bilinear, border padding = 'nearest' fill).
// Randomness comes from the device's default generator (seeded by the trainer per epoch).
#pragma once

#include <torch/torch.h>

namespace catdog::train {

struct AugmentParams {
  double rotation_deg = 30;    // uniform in [-r, r]
  double width_shift = 0.2;    // fraction of the width, uniform in [-s, s]
  double height_shift = 0.2;   // fraction of the height
  double shear_deg = 15;       // uniform in [-s, s] degrees (Keras >= 2.2 semantics)
  double zoom_lo = 0.7, zoom_hi = 1.4;  // zx, zy drawn independently (Keras zoom_range)
  double hflip_prob = 0.5;     // Keras horizontal_flip=True
  double vflip_prob = 0.5;     // Keras vertical_flip=True
};

// theta [n, 2, 3] for affine_grid(align_corners=true), mapping output to input coordinates, for
// square images of `size` pixels. dtype float32 on `device`.
torch::Tensor AugmentThetas(int64_t n, int64_t size, const AugmentParams& p, const torch::Device& device);

// x: [N, C, S, S] float. Returns the augmented batch (same shape).
torch::Tensor AugmentBatch(const torch::Tensor& x, const AugmentParams& p);

}  // namespace catdog::train

namespace catdog::train {

// Random erasing / cutout (Zhong et al. 2017), per sample with probability `prob`: a rectangle of
// 2-25% of the image, aspect ratio 0.3-3.3, at a uniform position, filled with one uniform gray
// value. Pure tensor ops on the batch's device (a CUDA graph can capture it). x: [N,C,S,S] float in [0,1].
torch::Tensor RandomErase(const torch::Tensor& x, double prob);

// Webcam-like photometric jitter, per sample: gamma exp(U(-0.5, 0.5)), contrast U(0.7, 1.3) about
// the image mean, brightness U(-0.15, 0.15), a 3x3 box blur mixed in with weight U(0, 1) for half
// the samples, Gaussian noise with sigma U(0, 0.04); clamped to [0, 1]. x: [N,C,S,S] float in [0,1].
torch::Tensor PhotometricJitter(const torch::Tensor& x);

// Webcam corruptions, per sample with probability `prob`: one of six kinds,
// each at a random strength drawn from a continuous range that spans what `catdog evaluate
// --corruptions` tests (corruptions.h) and a little beyond, so no severity is a fixed point:
//   0 Gaussian blur, sigma U(0.4, 3) px          3 low light: x^g * s, g U(1.2, 2.8), s U(0.3, 0.95)
//   1 motion blur, length U(3, 15) px, any angle 4 over-exposure: x * a + b, a U(1.2, 2.8), b U(0, 0.25)
//   2 Gaussian noise, sigma U(0.02, 0.13)        5 JPEG-like: 8x8 DCT blocks quantised with the JPEG
//                                                  luminance table at quality U(8, 45)
// Each kind is computed for the whole batch and picked per sample (torch::where), with only
// device tensor ops and no host sync, so a CUDA graph can capture it: the constant tables live on
// the device from construction (make the object before capturing). x: [N,C,S,S] float in [0,1];
// the result is clamped to [0,1].
class WebcamCorrupt {
 public:
  WebcamCorrupt(const torch::Device& device, double prob);
  torch::Tensor operator()(const torch::Tensor& x) const;

 private:
  double prob_;
  torch::Tensor dct_, jpeg_table_;  // 8x8 orthonormal DCT-II [freq, pos]; JPEG luma table / 255
};

}  // namespace catdog::train

namespace catdog::train {

// Synthetic outliers for outlier exposure (--outliers: "neither cat nor dog").
// The training photos are the only images here, so the outliers are made from them: things that
// are not a whole cat or dog but look like camera images. Both kinds are pure tensor ops on the
// batch's device with no host sync (a CUDA graph can capture them). x: [N,C,S,S] float in [0,1].
//
// JigsawOutliers: k images, each a 4x4 grid of tiles (S/4 px; the border rows/columns beyond 4
// tiles keep outlier i's own source image i's pixels) where every tile is taken from a random one of the
// first k images of x at a random grid position: fur, eyes and backgrounds without the animal's
// shape. Needs S >= 4.
torch::Tensor JigsawOutliers(const torch::Tensor& x, int64_t k);

// SmoothOutliers: k images of smooth shading (uniform 4x4 noise upsampled bilinearly, its contrast
// U(0.1, 1)): walls, sky, a covered or blurred lens.
torch::Tensor SmoothOutliers(int64_t k, int64_t channels, int64_t size, const torch::TensorOptions& opts);

// k outliers from the first k images of x, each a jigsaw (probability 3/4) or a smooth image.
torch::Tensor SyntheticOutliers(const torch::Tensor& x, int64_t k);

}  // namespace catdog::train
