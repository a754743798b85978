// The corruptions behind `catdog evaluate --corruptions` (corruptions.h): severity 0 is the image
// itself, every kind changes pixels at every severity 1-3, the strength grows with the severity
// where it is not random, and the random choices follow the seed and the image index.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "corruptions.h"

namespace {

using catdog::corrupt::AllKinds;
using catdog::corrupt::Apply;
using catdog::corrupt::Kind;
using catdog::corrupt::KindName;

constexpr int kS = 100;

// A textured, off-centre test picture: a diagonal ramp with a bright square and stripes, so blur,
// crops and rotations all move grey levels.
std::vector<uint8_t> Picture() {
  std::vector<uint8_t> p(kS * kS);
  for (int y = 0; y < kS; ++y)
    for (int x = 0; x < kS; ++x) {
      int v = 40 + (x + y) / 2 + ((x / 5) % 2 ? 30 : 0);
      if (x > 20 && x < 45 && y > 30 && y < 70) v = 230;
      p[size_t(y) * kS + x] = uint8_t(std::min(v, 255));
    }
  return p;
}

double MeanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / double(a.size());
}

TEST(Corruptions, SeverityZeroIsTheImage) {
  const std::vector<uint8_t> p = Picture();
  for (Kind k : AllKinds()) {
    std::vector<uint8_t> out;
    ASSERT_TRUE(Apply(k, 0, 7, 3, p.data(), kS, &out)) << KindName(k);
    EXPECT_EQ(out, p) << KindName(k);
  }
}

TEST(Corruptions, EveryKindChangesPixelsAndDeterministicOnesGrowWithSeverity) {
  const std::vector<uint8_t> p = Picture();
  EXPECT_EQ(AllKinds().size(), 8u);
  for (Kind k : AllKinds()) {
    double prev = 0;
    for (int sev = 1; sev <= catdog::corrupt::kMaxSeverity; ++sev) {
      std::vector<uint8_t> out;
      ASSERT_TRUE(Apply(k, sev, 0, 0, p.data(), kS, &out)) << KindName(k) << " severity " << sev;
      ASSERT_EQ(out.size(), p.size());
      const double d = MeanAbsDiff(out, p);
      EXPECT_GT(d, 0.5) << KindName(k) << " severity " << sev << " barely changes the image";
      // Random positions/angles (crop, rotation, motion direction) and JPEG's quantiser need not be
      // monotonic on one picture; the others must be.
      if (k == Kind::kGaussianBlur || k == Kind::kNoise || k == Kind::kLowLight || k == Kind::kOverExposure)
        EXPECT_GT(d, prev) << KindName(k) << " severity " << sev << " is not stronger than " << sev - 1;
      prev = d;
    }
  }
}

TEST(Corruptions, RandomChoicesFollowTheSeedAndTheImage) {
  const std::vector<uint8_t> p = Picture();
  for (Kind k : {Kind::kNoise, Kind::kCropZoom, Kind::kRotation, Kind::kMotionBlur}) {
    std::vector<uint8_t> a, b, other_seed, other_image;
    ASSERT_TRUE(Apply(k, 2, 11, 5, p.data(), kS, &a));
    ASSERT_TRUE(Apply(k, 2, 11, 5, p.data(), kS, &b));
    EXPECT_EQ(a, b) << KindName(k) << ": same seed and index, different result";
    // Crop position, rotation sign and motion angle have few outcomes: look at several draws.
    bool seed_matters = false, index_matters = false;
    for (uint64_t t = 0; t < 8; ++t) {
      ASSERT_TRUE(Apply(k, 2, 12 + t, 5, p.data(), kS, &other_seed));
      ASSERT_TRUE(Apply(k, 2, 11, 6 + t, p.data(), kS, &other_image));
      seed_matters |= other_seed != a;
      index_matters |= other_image != a;
    }
    EXPECT_TRUE(seed_matters) << KindName(k);
    EXPECT_TRUE(index_matters) << KindName(k);
  }
}

TEST(Corruptions, BadSeverityOrSizeIsAnError) {
  const std::vector<uint8_t> p = Picture();
  std::vector<uint8_t> out;
  EXPECT_FALSE(Apply(Kind::kJpeg, 4, 0, 0, p.data(), kS, &out));
  EXPECT_FALSE(Apply(Kind::kJpeg, -1, 0, 0, p.data(), kS, &out));
  EXPECT_FALSE(Apply(Kind::kJpeg, 1, 0, 0, p.data(), 4, &out));
}

}  // namespace
