// The batched affine augmentation (augment.h): Keras ImageDataGenerator semantics.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <set>
#include <utility>
#include <vector>

#include "augment.h"

namespace {

using catdog::train::AugmentBatch;
using catdog::train::AugmentParams;
using catdog::train::AugmentThetas;

AugmentParams None() {
  AugmentParams p;
  p.rotation_deg = p.width_shift = p.height_shift = p.shear_deg = 0;
  p.zoom_lo = p.zoom_hi = 1;
  p.hflip_prob = p.vflip_prob = 0;
  return p;
}

torch::Tensor Ramp(int n, int s) {
  return torch::arange(n * s * s, torch::kFloat).div(float(n * s * s)).view({n, 1, s, s});
}

TEST(Augment, NoTransformIsIdentity) {
  torch::Tensor x = Ramp(3, 10);
  torch::Tensor y = AugmentBatch(x, None());
  EXPECT_TRUE(torch::allclose(x, y, 1e-5, 1e-5));
}

TEST(Augment, FlipsAreExactMirrors) {
  torch::Tensor x = Ramp(2, 7);
  AugmentParams h = None();
  h.hflip_prob = 1;
  EXPECT_TRUE(torch::allclose(AugmentBatch(x, h), x.flip({3}), 1e-5, 1e-5));
  AugmentParams v = None();
  v.vflip_prob = 1;
  EXPECT_TRUE(torch::allclose(AugmentBatch(x, v), x.flip({2}), 1e-5, 1e-5));
}

TEST(Augment, Rotation90AndNearestFill) {
  // A rotation range of exactly +-90 cannot be drawn exactly; check the matrix algebra instead:
  // zoom 0.5 (zx = zy) samples the central half, i.e. a 2x magnification about the centre.
  AugmentParams z = None();
  z.zoom_lo = z.zoom_hi = 0.5;
  torch::manual_seed(1);
  torch::Tensor th = AugmentThetas(1, 9, z, torch::kCPU);
  EXPECT_NEAR(th[0][0][0].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(th[0][1][1].item<float>(), 0.5f, 1e-6);
  EXPECT_NEAR(th[0][0][1].item<float>(), 0.f, 1e-6);
  // A shift larger than the image replicates the border (fill_mode 'nearest').
  AugmentParams s = None();
  s.width_shift = 5;  // pixels shift uniformly in [-5w, 5w]: most draws leave the image
  torch::Tensor x = Ramp(64, 8);
  torch::Tensor y = AugmentBatch(x, s);
  EXPECT_GE(y.min().item<float>(), x.min().item<float>() - 1e-6);
  EXPECT_LE(y.max().item<float>(), x.max().item<float>() + 1e-6);
}

TEST(Augment, ShiftByWholePixelsMovesTheImage) {
  // Height shift only, forced to +0.2 * 10 = 2 pixels: output row r samples input row r + 2
  // (Keras: the matrix maps output to input coordinates).
  AugmentParams p = None();
  p.height_shift = 0.2;
  torch::manual_seed(0);
  torch::Tensor th = AugmentThetas(256, 10, p, torch::kCPU);
  // All translations within +-2 px (normalized: 2 * 2/9), spread over the range.
  torch::Tensor ty = th.select(1, 1).select(1, 2);
  EXPECT_LE(ty.abs().max().item<float>(), 4.f / 9 + 1e-6);
  EXPECT_GT(ty.abs().max().item<float>(), 0.8f * 4.f / 9);
  EXPECT_NEAR(th.select(1, 0).select(1, 2).abs().max().item<float>(), 0.f, 1e-6);  // no column shift
}

TEST(Augment, ReproducibleFromTheSeed) {
  torch::Tensor x = Ramp(8, 12);
  torch::manual_seed(5);
  torch::Tensor a = AugmentBatch(x, AugmentParams());
  torch::manual_seed(5);
  torch::Tensor b = AugmentBatch(x, AugmentParams());
  torch::manual_seed(6);
  torch::Tensor c = AugmentBatch(x, AugmentParams());
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::allclose(a, c));
  // Keras' ranges: rotation +-30 deg, shear +-15, zoom 0.7..1.4 -> determinant within bounds.
  torch::manual_seed(3);
  torch::Tensor th = AugmentThetas(4096, 100, AugmentParams(), torch::kCPU);
  torch::Tensor det = (th.select(2, 0).select(1, 0) * th.select(2, 1).select(1, 1) -
                       th.select(2, 1).select(1, 0) * th.select(2, 0).select(1, 1)).abs();
  // |det| = zx * zy * cos(shear)
  EXPECT_GE(det.min().item<float>(), 0.7f * 0.7f * std::cos(15 * M_PI / 180) - 1e-4);
  EXPECT_LE(det.max().item<float>(), 1.4f * 1.4f + 1e-4);
}

}  // namespace

// Random erasing: p = 0 leaves the batch alone; p = 1 blanks one rectangle of 2-25% of
// every image with a single gray value; the same seed gives the same batch.
TEST(Augment, RandomEraseBlanksOneRectanglePerImage) {
  torch::Tensor x = Ramp(64, 20);
  EXPECT_TRUE(torch::equal(catdog::train::RandomErase(x, 0.0), x));
  torch::manual_seed(5);
  torch::Tensor y = catdog::train::RandomErase(x, 1.0);
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(catdog::train::RandomErase(x, 1.0), y));
  for (int64_t i = 0; i < x.size(0); ++i) {
    torch::Tensor changed = y[i].ne(x[i]);
    const int64_t n = changed.sum().item<int64_t>();
    // Sides are >= 1.5 px, so at least one pixel centre is covered; a rectangle of area <= 100
    // covers at most (h + 1)(w + 1) <= 100 + 2 * 20 + 1 pixel centres.
    EXPECT_GE(n, 1) << "image " << i;
    EXPECT_LE(n, 141) << "image " << i;
    if (n > 1) {
      torch::Tensor vals = y[i].masked_select(changed);
      EXPECT_TRUE(torch::allclose(vals, vals[0].expand_as(vals))) << "one fill value per image " << i;
    }
  }
}

// Photometric jitter keeps the range [0, 1], changes pixels, and is reproducible under the seed.
TEST(Augment, PhotometricJitterStaysInRangeAndIsSeeded) {
  torch::Tensor x = Ramp(32, 16);
  torch::manual_seed(9);
  torch::Tensor y = catdog::train::PhotometricJitter(x);
  torch::manual_seed(9);
  EXPECT_TRUE(torch::equal(catdog::train::PhotometricJitter(x), y));
  EXPECT_GE(y.min().item<float>(), 0.f);
  EXPECT_LE(y.max().item<float>(), 1.f);
  EXPECT_GT((y - x).abs().mean().item<float>(), 0.01f);
  EXPECT_EQ(y.sizes(), x.sizes());
}

// Webcam corruptions (augment.h WebcamCorrupt): off at probability 0, every image changed at 1,
// range kept, reproducible under the seed, and the kinds recognisable by what they do: blurs and
// JPEG blocks keep the mean, noise raises the pixel-to-pixel variation, low light darkens,
// over-exposure brightens.
TEST(Augment, WebcamCorruptionsAreSeededInRangeAndOffAtZero) {
  torch::manual_seed(1);  // a textured image: blurs and JPEG blocks visibly change it
  torch::Tensor x = torch::rand({64, 1, 24, 24}).mul(0.6).add(0.2);
  const catdog::train::WebcamCorrupt off(torch::kCPU, 0.0), on(torch::kCPU, 1.0);
  EXPECT_TRUE(torch::equal(off(x), x));
  torch::manual_seed(3);
  torch::Tensor y = on(x);
  torch::manual_seed(3);
  EXPECT_TRUE(torch::equal(on(x), y));
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_GE(y.min().item<float>(), 0.f);
  EXPECT_LE(y.max().item<float>(), 1.f);
  torch::Tensor changed = (y - x).abs().amax({1, 2, 3}).gt(1e-3);
  EXPECT_EQ(changed.sum().item<int64_t>(), 64) << "every image should be corrupted at probability 1";
  // Darker, brighter and noisier images all occur among 64 draws of six kinds.
  torch::Tensor dmean = (y.mean({1, 2, 3}) - x.mean({1, 2, 3}));
  torch::Tensor rough = (y.narrow(3, 1, 23) - y.narrow(3, 0, 23)).abs().mean({1, 2, 3});
  torch::Tensor rough0 = (x.narrow(3, 1, 23) - x.narrow(3, 0, 23)).abs().mean({1, 2, 3});
  EXPECT_GT(dmean.lt(-0.05).sum().item<int64_t>(), 0) << "no low-light image";
  EXPECT_GT(dmean.gt(0.05).sum().item<int64_t>(), 0) << "no over-exposed image";
  EXPECT_GT((rough - rough0).gt(0.01).sum().item<int64_t>(), 0) << "no noisy image";
  EXPECT_GT((rough - rough0).lt(-0.05).sum().item<int64_t>(), 0) << "no blurred image";
  EXPECT_GT(dmean.abs().lt(0.01).sum().item<int64_t>(), 0) << "no mean-keeping (blur/JPEG) image";
}

// A flat image stays flat under the blurs (replicate padding, normalised kernels): no dark borders.
TEST(Augment, WebcamBlursKeepFlatImagesFlat) {
  torch::Tensor x = torch::full({40, 1, 20, 20}, 0.37f);
  const catdog::train::WebcamCorrupt on(torch::kCPU, 1.0);
  torch::manual_seed(5);
  torch::Tensor y = on(x);
  // Per image: flat (any kind keeps a flat image flat except noise and the JPEG rounding of the
  // DC level, which moves it uniformly).
  torch::Tensor spread = y.amax({1, 2, 3}) - y.amin({1, 2, 3});
  torch::Tensor shift = (y.mean({1, 2, 3}) - 0.37f).abs();
  EXPECT_GT((spread.lt(1e-4) & shift.lt(1e-4)).sum().item<int64_t>(), 0) << "no blurred image stayed 0.37";
  EXPECT_GT(spread.gt(0.02).sum().item<int64_t>(), 0) << "no noisy image";
}

namespace {

// Outlier exposure's jigsaws: every 25x25 tile of a 100x100 outlier is a copy of some tile of the
// source images at a grid position, the tiles come from several positions and sources, and the
// draw follows the seed. Sizes that 4 does not divide keep each outlier's own source's border.
TEST(Augment, OutlierJigsawTilesAreCopiesOfSourceTiles) {
  torch::manual_seed(3);
  const int64_t k = 6, S = 100, T = 25;
  torch::Tensor x = torch::rand({8, 1, S, S});
  torch::Tensor o = catdog::train::JigsawOutliers(x, k);
  ASSERT_EQ(o.sizes(), (std::vector<int64_t>{k, 1, S, S}));
  std::set<std::pair<int64_t, int64_t>> used;  // (source image, tile position)
  for (int64_t i = 0; i < k; ++i)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        torch::Tensor tile = o[i].narrow(1, r * T, T).narrow(2, c * T, T);
        bool found = false;
        for (int64_t j = 0; j < k && !found; ++j)  // only the first k images are sources
          for (int64_t p = 0; p < 16 && !found; ++p)
            if (torch::equal(tile, x[j].narrow(1, (p / 4) * T, T).narrow(2, (p % 4) * T, T))) {
              found = true;
              used.insert({j, p});
            }
        EXPECT_TRUE(found) << "outlier " << i << " tile (" << r << ", " << c << ") is no source tile";
      }
  EXPECT_GT(used.size(), 40u) << "96 tiles drawn from 96 should hit many distinct ones";
  torch::manual_seed(3);
  torch::Tensor again = catdog::train::JigsawOutliers(torch::rand({8, 1, S, S}), k);
  EXPECT_TRUE(torch::equal(o, again));
  // 30 px: tiles of 7, the last 2 rows and columns are outlier i's source image i's.
  torch::Tensor y = torch::rand({3, 1, 30, 30});
  torch::Tensor oy = catdog::train::JigsawOutliers(y, 2);
  ASSERT_EQ(oy.sizes(), (std::vector<int64_t>{2, 1, 30, 30}));
  EXPECT_TRUE(torch::equal(oy.narrow(2, 28, 2), y.narrow(0, 0, 2).narrow(2, 28, 2)));
}

TEST(Augment, OutlierSmoothAndMixedAreInRangeAndBothKindsAppear) {
  torch::manual_seed(5);
  torch::Tensor s = catdog::train::SmoothOutliers(16, 1, 100, torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{16, 1, 100, 100}));
  EXPECT_GE(s.min().item<float>(), 0.f);
  EXPECT_LE(s.max().item<float>(), 1.f);
  // Smooth: neighbouring pixels differ by little (a 4x4 grid upsampled 25x).
  EXPECT_LT((s.narrow(3, 1, 99) - s.narrow(3, 0, 99)).abs().max().item<float>(), 0.06f);
  torch::Tensor x = torch::rand({64, 1, 100, 100});
  torch::Tensor m = catdog::train::SyntheticOutliers(x, 64);
  ASSERT_EQ(m.sizes(), x.sizes());
  // Jigsaws of uniform noise are rough, smooth ones are not: count each kind.
  torch::Tensor rough = (m.narrow(3, 1, 99) - m.narrow(3, 0, 99)).abs().amax({1, 2, 3}).gt(0.5);
  const int64_t jig = rough.sum().item<int64_t>();
  EXPECT_GT(jig, 32);  // 3/4 of 64 expected
  EXPECT_LT(jig, 64);
}

}  // namespace
