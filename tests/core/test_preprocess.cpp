// preprocess / preprocess_u8 (DESIGN contract 1) against a slow, obviously-correct reference
// written straight from the definition: every output pixel is the coverage-weighted mean of the
// BT.601 luma of the source pixels its square covers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>
#include <tuple>
#include <cmath>

#include "catdog/catdog.h"

namespace {

using catdog::Fit;
using catdog::ImageView;
using catdog::PixelFormat;

// A deterministic image with `pad` extra (garbage) bytes at the end of each row.
struct TestImage {
  std::vector<uint8_t> bytes;
  ImageView view;
};

TestImage MakeImage(int w, int h, PixelFormat f, int pad, uint32_t seed) {
  const int bpp = static_cast<int>(f);
  TestImage t;
  const int stride = w * bpp + pad;
  t.bytes.resize(static_cast<size_t>(stride) * h);
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& b : t.bytes) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  t.view = ImageView{t.bytes.data(), w, h, stride, f};
  return t;
}

// Reference: for each output pixel, loop over the whole source region and weight each source
// pixel by the exact overlap (in units of 1/n source pixel per axis) of the two squares.
std::vector<uint8_t> SlowReference(const ImageView& im, Fit fit, int n) {
  const int bpp = static_cast<int>(im.format);
  int64_t x0 = 0, y0 = 0, sx = im.width, sy = im.height;
  if (fit == Fit::kCenterCrop) {
    const int64_t side = std::min(sx, sy);
    x0 = (sx - side) / 2;
    y0 = (sy - side) / 2;
    sx = sy = side;
  }
  auto overlap = [](int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
    return std::max<int64_t>(0, std::min(a1, b1) - std::max(a0, b0));
  };
  std::vector<uint8_t> out(static_cast<size_t>(n) * n);
  for (int oy = 0; oy < n; ++oy) {
    for (int ox = 0; ox < n; ++ox) {
      uint64_t sum = 0;
      for (int64_t j = 0; j < sy; ++j) {
        const int64_t wy = overlap(j * n, (j + 1) * n, oy * sy, (oy + 1) * sy);
        if (wy == 0) continue;
        for (int64_t i = 0; i < sx; ++i) {
          const int64_t wx = overlap(i * n, (i + 1) * n, ox * sx, (ox + 1) * sx);
          if (wx == 0) continue;
          const uint8_t* p = im.data + (y0 + j) * im.stride + (x0 + i) * bpp;
          const uint64_t luma = bpp == 1 ? 1000u * p[0] : 299u * p[0] + 587u * p[1] + 114u * p[2];
          sum += static_cast<uint64_t>(wx) * wy * luma;
        }
      }
      const uint64_t denom = static_cast<uint64_t>(sx) * sy * 1000;
      out[static_cast<size_t>(oy) * n + ox] = static_cast<uint8_t>((sum + denom / 2) / denom);
    }
  }
  return out;
}

struct Case {
  int w, h;
  PixelFormat f;
  int pad;
  Fit fit;
  int n;
};

std::string Describe(const Case& c) {
  return std::to_string(c.w) + "x" + std::to_string(c.h) + " bpp " + std::to_string(static_cast<int>(c.f)) +
         " pad " + std::to_string(c.pad) + (c.fit == Fit::kCenterCrop ? " crop" : " stretch") + " -> " +
         std::to_string(c.n);
}

TEST(Preprocess, MatchesSlowReferenceOverSizesStridesFormats) {
  const Case cases[] = {
      {640, 480, PixelFormat::kRGBA8, 0, Fit::kCenterCrop, 100},
      {640, 480, PixelFormat::kRGBA8, 0, Fit::kStretch, 100},
      {480, 640, PixelFormat::kRGB8, 7, Fit::kCenterCrop, 100},
      {180, 180, PixelFormat::kRGB8, 0, Fit::kStretch, 100},
      {181, 179, PixelFormat::kGray8, 3, Fit::kCenterCrop, 100},
      {100, 100, PixelFormat::kGray8, 0, Fit::kStretch, 100},
      {37, 53, PixelFormat::kRGBA8, 13, Fit::kStretch, 100},   // upscale, non-square
      {3, 2, PixelFormat::kRGB8, 1, Fit::kStretch, 7},          // tiny upscale
      {1, 1, PixelFormat::kRGBA8, 0, Fit::kCenterCrop, 5},      // single pixel
      {1000, 3, PixelFormat::kGray8, 0, Fit::kStretch, 10},     // extreme aspect
      {1000, 3, PixelFormat::kRGB8, 2, Fit::kCenterCrop, 10},
      {101, 100, PixelFormat::kRGBA8, 4, Fit::kCenterCrop, 33},  // odd difference
      {97, 89, PixelFormat::kRGB8, 5, Fit::kStretch, 64},
      {250, 317, PixelFormat::kRGBA8, 1, Fit::kCenterCrop, 1},   // whole crop -> one pixel
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(Describe(c));
    const TestImage img = MakeImage(c.w, c.h, c.f, c.pad, seed++);
    std::vector<uint8_t> got(static_cast<size_t>(c.n) * c.n, 0xAB);
    ASSERT_TRUE(catdog::preprocess_u8(img.view, c.fit, c.n, got.data()).ok());
    const std::vector<uint8_t> want = SlowReference(img.view, c.fit, c.n);
    ASSERT_EQ(got, want);
  }
}

// Column sums of a source taller than 16,843,009 rows may not fit 32 bits: the 64-bit path.
TEST(Preprocess, VeryTallImageUses64BitSums) {
  const int h = 20000000;
  std::vector<uint8_t> px(static_cast<size_t>(h) * 2);
  uint32_t s = 77;
  for (auto& b : px) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24) | 0xE0;  // 224..255: column sums pass 2^32
  }
  ImageView v{px.data(), 2, h, 2, PixelFormat::kGray8};
  uint8_t got[4];
  ASSERT_TRUE(catdog::preprocess_u8(v, Fit::kStretch, 2, got).ok());
  const std::vector<uint8_t> want = SlowReference(v, Fit::kStretch, 2);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], want[i]) << i;
}

TEST(Preprocess, FloatIsBytesOver255Exactly) {
  const TestImage img = MakeImage(640, 480, PixelFormat::kRGBA8, 8, 42);
  std::vector<uint8_t> u8(100 * 100);
  std::vector<float> f(100 * 100, -1.0f);
  ASSERT_TRUE(catdog::preprocess_u8(img.view, Fit::kCenterCrop, 100, u8.data()).ok());
  ASSERT_TRUE(catdog::preprocess(img.view, Fit::kCenterCrop, 100, f.data()).ok());
  for (size_t i = 0; i < u8.size(); ++i) {
    ASSERT_EQ(f[i], static_cast<float>(u8[i]) / 255.0f) << "pixel " << i;
    ASSERT_GE(f[i], 0.0f);
    ASSERT_LE(f[i], 1.0f);
  }
}

TEST(Preprocess, IdentitySizeGrayIsUnchanged) {
  const TestImage img = MakeImage(100, 100, PixelFormat::kGray8, 5, 7);
  std::vector<uint8_t> out(100 * 100);
  ASSERT_TRUE(catdog::preprocess_u8(img.view, Fit::kCenterCrop, 100, out.data()).ok());
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 100; ++x)
      ASSERT_EQ(out[y * 100 + x], img.bytes[static_cast<size_t>(y) * img.view.stride + x]) << x << "," << y;
}

TEST(Preprocess, ConstantImageGivesConstantOutput) {
  // Luma of (200, 100, 50) = (299*200 + 587*100 + 114*50)/1000 = 124.2 -> 124.
  for (int n : {1, 7, 100, 250}) {
    std::vector<uint8_t> px(123 * 77 * 4);
    for (size_t i = 0; i < px.size(); i += 4) {
      px[i] = 200;
      px[i + 1] = 100;
      px[i + 2] = 50;
      px[i + 3] = static_cast<uint8_t>(i);  // alpha is ignored
    }
    ImageView v{px.data(), 123, 77, 123 * 4, PixelFormat::kRGBA8};
    std::vector<uint8_t> out(static_cast<size_t>(n) * n);
    for (Fit fit : {Fit::kCenterCrop, Fit::kStretch}) {
      ASSERT_TRUE(catdog::preprocess_u8(v, fit, n, out.data()).ok());
      for (uint8_t o : out) ASSERT_EQ(o, 124) << "n=" << n;
    }
  }
}

TEST(Preprocess, GrayEqualsRgbAndRgbaWhenChannelsAreEqual) {
  const TestImage gray = MakeImage(211, 157, PixelFormat::kGray8, 0, 99);
  std::vector<uint8_t> rgb(211 * 157 * 3), rgba(211 * 157 * 4);
  for (size_t i = 0; i < gray.bytes.size(); ++i) {
    for (int k = 0; k < 3; ++k) rgb[i * 3 + k] = rgba[i * 4 + k] = gray.bytes[i];
    rgba[i * 4 + 3] = 255 - gray.bytes[i];
  }
  ImageView vr{rgb.data(), 211, 157, 211 * 3, PixelFormat::kRGB8};
  ImageView va{rgba.data(), 211, 157, 211 * 4, PixelFormat::kRGBA8};
  for (Fit fit : {Fit::kCenterCrop, Fit::kStretch}) {
    std::vector<uint8_t> og(100 * 100), orgb(100 * 100), orgba(100 * 100);
    ASSERT_TRUE(catdog::preprocess_u8(gray.view, fit, 100, og.data()).ok());
    ASSERT_TRUE(catdog::preprocess_u8(vr, fit, 100, orgb.data()).ok());
    ASSERT_TRUE(catdog::preprocess_u8(va, fit, 100, orgba.data()).ok());
    EXPECT_EQ(og, orgb);
    EXPECT_EQ(og, orgba);
  }
}

TEST(Preprocess, CenterCropTakesTheMiddleSquare) {
  // 300x100 gray: left and right thirds white, middle black. The crop sees only black; the
  // stretch sees all three.
  std::vector<uint8_t> px(300 * 100);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 300; ++x) px[y * 300 + x] = (x < 100 || x >= 200) ? 255 : 0;
  ImageView v{px.data(), 300, 100, 300, PixelFormat::kGray8};
  std::vector<uint8_t> out(10 * 10);
  ASSERT_TRUE(catdog::preprocess_u8(v, Fit::kCenterCrop, 10, out.data()).ok());
  for (uint8_t o : out) ASSERT_EQ(o, 0);
  ASSERT_TRUE(catdog::preprocess_u8(v, Fit::kStretch, 3, out.data()).ok());
  for (int y = 0; y < 3; ++y) {
    EXPECT_EQ(out[y * 3 + 0], 255);
    EXPECT_EQ(out[y * 3 + 1], 0);
    EXPECT_EQ(out[y * 3 + 2], 255);
  }
  // Odd difference (101 wide, 100 high): the crop starts at x = 0 and drops the last column.
  std::vector<uint8_t> odd(101 * 100 * 4, 0);
  for (int y = 0; y < 100; ++y)
    for (int k = 0; k < 3; ++k) odd[(y * 101 + 100) * 4 + k] = 255;
  ImageView vo{odd.data(), 101, 100, 101 * 4, PixelFormat::kRGBA8};
  ASSERT_TRUE(catdog::preprocess_u8(vo, Fit::kCenterCrop, 10, out.data()).ok());
  for (uint8_t o : out) ASSERT_EQ(o, 0);
  // Tall image: the crop is the vertical middle.
  std::vector<uint8_t> tall(50 * 150, 255);
  for (int y = 50; y < 100; ++y)
    for (int x = 0; x < 50; ++x) tall[y * 50 + x] = 10;
  ImageView vt{tall.data(), 50, 150, 50, PixelFormat::kGray8};
  ASSERT_TRUE(catdog::preprocess_u8(vt, Fit::kCenterCrop, 10, out.data()).ok());
  for (uint8_t o : out) ASSERT_EQ(o, 10);
}

TEST(Preprocess, TwoToOneDownscaleAveragesBlocks) {
  // 4x4 -> 2x2: each output is the mean of a 2x2 block.
  const uint8_t px[16] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 152};
  ImageView v{px, 4, 4, 4, PixelFormat::kGray8};
  uint8_t out[4];
  ASSERT_TRUE(catdog::preprocess_u8(v, Fit::kStretch, 2, out).ok());
  EXPECT_EQ(out[0], 25);   // (0+10+40+50)/4
  EXPECT_EQ(out[1], 45);   // (20+30+60+70)/4
  EXPECT_EQ(out[2], 105);  // (80+90+120+130)/4
  EXPECT_EQ(out[3], 126);  // (100+110+140+152)/4 = 125.5: rounds half up
}

// A fixed image hashed: the same bytes on every platform (native x86 and wasm run this test).
TEST(Preprocess, FixedImageHashIsPlatformIndependent) {
  const TestImage img = MakeImage(640, 480, PixelFormat::kRGBA8, 0, 2024);
  std::vector<uint8_t> out(100 * 100);
  ASSERT_TRUE(catdog::preprocess_u8(img.view, Fit::kCenterCrop, 100, out.data()).ok());
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (uint8_t b : out) h = (h ^ b) * 1099511628211ull;
  EXPECT_EQ(h, 11001017935065403258ull) << "hash " << h;
}

TEST(Preprocess, RejectsBadInputWithMessagesNamingTheValue) {
  std::vector<uint8_t> px(64 * 64 * 4, 1);
  std::vector<uint8_t> out(100 * 100);
  std::vector<float> outf(100 * 100);
  auto expect_err = [&](const ImageView& v, int n, const std::string& needle) {
    catdog::Status s = catdog::preprocess_u8(v, Fit::kCenterCrop, n, out.data());
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
    catdog::Status sf = catdog::preprocess(v, Fit::kCenterCrop, n, outf.data());
    EXPECT_FALSE(sf.ok()) << needle;
    EXPECT_EQ(sf.message(), s.message());
  };
  expect_err(ImageView{nullptr, 64, 64, 256, PixelFormat::kRGBA8}, 100, "null");
  expect_err(ImageView{px.data(), 0, 64, 256, PixelFormat::kRGBA8}, 100, "0x64");
  expect_err(ImageView{px.data(), 64, -3, 256, PixelFormat::kRGBA8}, 100, "64x-3");
  expect_err(ImageView{px.data(), 64, 64, 255, PixelFormat::kRGBA8}, 100, "stride 255");
  expect_err(ImageView{px.data(), 64, 64, 100, PixelFormat::kRGB8}, 100, "64 x 3 bytes per pixel = 192");
  expect_err(ImageView{px.data(), 1 << 20, 1 << 20, 1 << 22, PixelFormat::kRGBA8}, 100, "exceeds the limit");
  expect_err(ImageView{px.data(), 64, 64, 256, PixelFormat::kRGBA8}, 0, "out_size 0");
  expect_err(ImageView{px.data(), 64, 64, 256, PixelFormat::kRGBA8}, -5, "out_size -5");
  expect_err(ImageView{px.data(), 64, 64, 256, PixelFormat::kRGBA8}, 1 << 20, "out_size 1048576");
  expect_err(ImageView{px.data(), 64, 64, 256, static_cast<PixelFormat>(2)}, 100, "pixel format 2");
  ImageView ok{px.data(), 64, 64, 256, PixelFormat::kRGBA8};
  EXPECT_FALSE(catdog::preprocess_u8(ok, Fit::kCenterCrop, 100, nullptr).ok());
  EXPECT_FALSE(catdog::preprocess(ok, Fit::kCenterCrop, 100, nullptr).ok());
  catdog::Status s = catdog::preprocess_u8(ok, static_cast<Fit>(9), 100, out.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fit mode 9"), std::string::npos) << s.message();
}

// ---- camera frames: yuv_to_rgba against the formula in doubles -----------------------------------
struct YuvFrame {
  std::vector<uint8_t> y, u, v;
  catdog::YuvView view;
};

YuvFrame MakeYuv(int w, int h, catdog::YuvLayout layout, int pad, uint32_t seed) {
  YuvFrame f;
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  const bool nv12 = layout == catdog::YuvLayout::kNV12;
  const int ys = w + pad, us = (nv12 ? 2 * cw : cw) + pad, vs = cw + pad;
  uint32_t s = seed * 2654435761u + 7u;
  auto next = [&] { s = s * 1664525u + 1013904223u; return static_cast<uint8_t>(s >> 24); };
  f.y.resize(static_cast<size_t>(ys) * h);
  f.u.resize(static_cast<size_t>(us) * ch);
  for (auto& b : f.y) b = next();
  for (auto& b : f.u) b = next();
  if (!nv12) {
    f.v.resize(static_cast<size_t>(vs) * ch);
    for (auto& b : f.v) b = next();
  }
  f.view.y = f.y.data();
  f.view.y_stride = ys;
  f.view.u = f.u.data();
  f.view.u_stride = us;
  f.view.v = nv12 ? nullptr : f.v.data();
  f.view.v_stride = nv12 ? 0 : vs;
  f.view.width = w;
  f.view.height = h;
  f.view.layout = layout;
  return f;
}

// The conversion written from its definition in doubles (catdog.h, "camera frames").
void ReferenceRgb(const catdog::YuvView& f, int x, int row, double rgb[3]) {
  const bool nv12 = f.layout == catdog::YuvLayout::kNV12;
  const double kr = f.matrix == catdog::YuvMatrix::kBT709 ? 0.2126 : 0.299;
  const double kb = f.matrix == catdog::YuvMatrix::kBT709 ? 0.0722 : 0.114;
  const double kg = 1 - kr - kb;
  const uint8_t* ur = f.u + (row / 2) * f.u_stride;
  const double Y = f.y[row * f.y_stride + x];
  const double U = nv12 ? ur[2 * (x / 2)] : ur[x / 2];
  const double V = nv12 ? ur[2 * (x / 2) + 1] : f.v[(row / 2) * f.v_stride + x / 2];
  const double yp = f.full_range ? Y : (Y - 16) * 255.0 / 219.0;
  const double cb = f.full_range ? U - 128 : (U - 128) * 255.0 / 224.0;
  const double cr = f.full_range ? V - 128 : (V - 128) * 255.0 / 224.0;
  rgb[0] = yp + 2 * (1 - kr) * cr;
  rgb[1] = yp - (2 * kb * (1 - kb) * cb + 2 * kr * (1 - kr) * cr) / kg;
  rgb[2] = yp + 2 * (1 - kb) * cb;
}

TEST(Yuv, MatchesTheFormulaWithinOneLevelForEveryLayoutMatrixRangeAndOddSize) {
  int checked = 0;
  for (auto layout : {catdog::YuvLayout::kI420, catdog::YuvLayout::kNV12})
    for (auto matrix : {catdog::YuvMatrix::kBT601, catdog::YuvMatrix::kBT709})
      for (bool full : {false, true})
        for (auto [w, h, pad] : {std::tuple{64, 48, 0}, std::tuple{33, 17, 5}, std::tuple{1, 1, 3}, std::tuple{2, 7, 0}}) {
          YuvFrame f = MakeYuv(w, h, layout, pad, static_cast<uint32_t>(w * 131 + h + full));
          f.view.matrix = matrix;
          f.view.full_range = full;
          const int stride = w * 4 + 8;
          std::vector<uint8_t> rgba(static_cast<size_t>(stride) * h, 7);
          ASSERT_TRUE(catdog::yuv_to_rgba(f.view, rgba.data(), stride).ok());
          for (int row = 0; row < h; ++row)
            for (int x = 0; x < w; ++x) {
              double ref[3];
              ReferenceRgb(f.view, x, row, ref);
              const uint8_t* p = rgba.data() + row * stride + 4 * x;
              for (int k = 0; k < 3; ++k) {
                const double want = std::min(255.0, std::max(0.0, ref[k]));
                // Rounding (0.5) plus the 14-bit coefficients' error (< 0.02 over the byte range).
                ASSERT_LE(std::abs(p[k] - want), 0.52)
                    << "channel " << k << " at (" << x << "," << row << ") " << w << "x" << h << " layout "
                    << static_cast<int>(layout) << " matrix " << static_cast<int>(matrix) << " full " << full;
              }
              ASSERT_EQ(p[3], 255);
              ++checked;
            }
          // The padding after each output row is not written.
          if (h > 0) EXPECT_EQ(rgba[w * 4], 7);
        }
  EXPECT_GT(checked, 10000);
}

TEST(Yuv, BlackWhiteAndGreyLandWhereTheyShould) {
  auto convert = [](uint8_t Y, uint8_t U, uint8_t V, bool full) {
    uint8_t y[4] = {Y, Y, Y, Y}, u[1] = {U}, v[1] = {V}, out[16];
    catdog::YuvView f;
    f.y = y; f.y_stride = 2; f.u = u; f.u_stride = 1; f.v = v; f.v_stride = 1;
    f.width = 2; f.height = 2; f.full_range = full;
    EXPECT_TRUE(catdog::yuv_to_rgba(f, out, 8).ok());
    return std::vector<int>{out[0], out[1], out[2]};
  };
  EXPECT_EQ(convert(16, 128, 128, false), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(convert(235, 128, 128, false), (std::vector<int>{255, 255, 255}));
  EXPECT_EQ(convert(0, 128, 128, false), (std::vector<int>{0, 0, 0}));      // below black: clamped
  EXPECT_EQ(convert(126, 128, 128, false), (std::vector<int>{128, 128, 128}));
  EXPECT_EQ(convert(77, 128, 128, true), (std::vector<int>{77, 77, 77}));  // full range: Y is the grey
  // Pure red in limited BT.601 (Y 81, Cb 90, Cr 240) comes back as red.
  const auto red = convert(81, 90, 240, false);
  EXPECT_GE(red[0], 253);
  EXPECT_LE(red[1], 2);
  EXPECT_LE(red[2], 2);
}

TEST(Yuv, RejectsBadFramesWithMessagesNamingTheValue) {
  YuvFrame f = MakeYuv(8, 8, catdog::YuvLayout::kI420, 0, 1);
  std::vector<uint8_t> out(8 * 8 * 4);
  auto expect_err = [&](catdog::YuvView v, uint8_t* o, int stride, const std::string& needle) {
    catdog::Status s = catdog::yuv_to_rgba(v, o, stride);
    EXPECT_FALSE(s.ok()) << needle;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  catdog::YuvView v = f.view;
  v.width = 0;
  expect_err(v, out.data(), 32, "frame size 0x8");
  v = f.view;
  v.y_stride = 7;
  expect_err(v, out.data(), 32, "Y stride 7");
  v = f.view;
  v.u_stride = 3;
  expect_err(v, out.data(), 32, "U stride 3");
  v = f.view;
  v.layout = catdog::YuvLayout::kNV12;
  expect_err(v, out.data(), 32, "UV stride 4");
  v = f.view;
  v.v = nullptr;
  expect_err(v, out.data(), 32, "null");
  expect_err(f.view, nullptr, 32, "output buffer is null");
  expect_err(f.view, out.data(), 31, "RGBA stride 31");
  v = f.view;
  v.layout = static_cast<catdog::YuvLayout>(5);
  expect_err(v, out.data(), 32, "layout 5");
  v = f.view;
  v.matrix = static_cast<catdog::YuvMatrix>(3);
  expect_err(v, out.data(), 32, "matrix 3");
}

}  // namespace
