// Image -> model input (DESIGN contract 1): optional center square crop, exact area-average
// resize, BT.601 luma, rounding to u8; preprocess() is preprocess_u8() / 255.
//
// Why integers: the trainer (x86), the CLI and the web page (wasm) must see bit-identical
// pixels. Every step here is exact integer arithmetic, so there is no float rounding order
// that could differ between compilers or ISAs.
//
// The math. Let the source region be S_x x S_y pixels and the output N x N. Measure the x axis
// in units of 1/N source pixel: source pixel i spans [i*N, (i+1)*N), output pixel o spans
// [o*S_x, (o+1)*S_x). Their overlap w_x(i,o) is an integer, and for each o the overlaps sum to
// S_x. Same for y. Luma is 299 R + 587 G + 114 B (weights sum to 1000; gray g -> 1000 g). Then
//   u8(o_x,o_y) = round( sum_ij w_x(i) w_y(j) L(i,j) / (S_x S_y 1000) )    (round half up)
// which is the exact box filter with fractional pixel coverage, for up- and down-scaling.
// Bounds: the sum is <= S_x S_y 255000 <= 2^28 * 2^18, so uint64 never overflows.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog {
namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 28;  // refuse absurd images (256 Mpixel)
constexpr int kMaxOutSize = 4096;

// 1-D area-resampling taps: for output o, source pixels [first[o], first[o] + count[o]) with
// integer weights (in units of 1/N source pixel), stored consecutively in `weight`.
struct Taps {
  std::vector<int32_t> first, count, start;  // start: index of o's first weight in `weight`
  std::vector<uint32_t> weight;
};

void MakeTaps(int64_t src, int64_t n, Taps* t) {
  t->first.resize(n);
  t->count.resize(n);
  t->start.resize(n);
  t->weight.clear();
  t->weight.reserve(static_cast<size_t>(src + n));
  for (int64_t o = 0; o < n; ++o) {
    const int64_t lo = o * src, hi = (o + 1) * src;  // output interval, scaled units
    const int64_t i0 = lo / n;                       // floor
    const int64_t i1 = (hi + n - 1) / n;             // ceil (exclusive end)
    t->first[o] = static_cast<int32_t>(i0);
    t->count[o] = static_cast<int32_t>(i1 - i0);
    t->start[o] = static_cast<int32_t>(t->weight.size());
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t a = i * n > lo ? i * n : lo;
      const int64_t b = (i + 1) * n < hi ? (i + 1) * n : hi;
      t->weight.push_back(static_cast<uint32_t>(b - a));
    }
  }
}


// Reused buffers (per thread): after the first frame of a given size, no allocation.
struct Scratch {
  Taps tx, ty;
  std::vector<uint32_t> vsum32;
  std::vector<uint64_t> vsum64;
  std::vector<uint64_t> luma;
};

Scratch& ThreadScratch() {
  static thread_local Scratch s;
  return s;
}

inline uint8_t RoundDiv(uint64_t x, uint64_t d, double inv);

// Separable, vertical pass first: for each output row, the coverage-weighted sum of the source
// rows it covers, per byte (R, G, B, A or gray), in Acc; then BT.601 luma x 1000 of those sums,
// then the horizontal taps. Every step is an exact integer, so the order does not matter.
template <class Acc>
void Resample(const ImageView& im, int64_t x0, int64_t y0, int64_t sx, int64_t sy, int64_t n, Scratch* sc,
              std::vector<Acc>* vsum_buf, uint8_t* out) {
  const int bpp = static_cast<int>(im.format);
  const size_t row_len = static_cast<size_t>(sx) * bpp;
  vsum_buf->resize(row_len);
  sc->luma.resize(static_cast<size_t>(sx));
  Acc* vsum = vsum_buf->data();
  uint64_t* luma = sc->luma.data();
  const Taps& tx = sc->tx;
  const Taps& ty = sc->ty;
  const uint64_t denom = static_cast<uint64_t>(sx) * static_cast<uint64_t>(sy) * 1000u;
  const uint64_t half = denom / 2;
  const double inv = 1.0 / static_cast<double>(denom);
  for (int64_t oy = 0; oy < n; ++oy) {
    for (size_t k = 0; k < row_len; ++k) vsum[k] = 0;
    for (int32_t t = 0; t < ty.count[oy]; ++t) {
      // Weights are <= n <= 4096: a 16 x 16 -> 32-bit widening multiply, which SSE2 and simd128
      // vectorize well (a full 32-bit multiply is slow on SSE2).
      const uint16_t wy = static_cast<uint16_t>(ty.weight[ty.start[oy] + t]);
      const uint8_t* row = im.data + (y0 + ty.first[oy] + t) * static_cast<int64_t>(im.stride) + x0 * bpp;
      for (size_t k = 0; k < row_len; ++k)
        vsum[k] += static_cast<Acc>(static_cast<uint32_t>(wy) * static_cast<uint16_t>(row[k]));
    }
    if (bpp == 1) {
      for (int64_t i = 0; i < sx; ++i) luma[i] = 1000u * static_cast<uint64_t>(vsum[i]);
    } else {
      for (int64_t i = 0; i < sx; ++i) {
        const Acc* p = vsum + i * bpp;
        luma[i] = 299u * static_cast<uint64_t>(p[0]) + 587u * static_cast<uint64_t>(p[1]) +
                  114u * static_cast<uint64_t>(p[2]);
      }
    }
    uint8_t* o = out + oy * n;
    for (int64_t ox = 0; ox < n; ++ox) {
      const uint64_t* l = luma + tx.first[ox];
      const uint32_t* w = tx.weight.data() + tx.start[ox];
      uint64_t sum = 0;
      for (int32_t q = 0; q < tx.count[ox]; ++q) sum += static_cast<uint64_t>(w[q]) * l[q];
      o[ox] = RoundDiv(sum + half, denom, inv);
    }
  }
}

// floor(x / d) for a quotient known to be in [0, 255]: a double estimate, then corrected with
// exact integer checks, so the result is the exact integer quotient on every platform (and
// avoids 10,000 64-bit divisions per frame).
inline uint8_t RoundDiv(uint64_t x, uint64_t d, double inv) {
  int64_t q = static_cast<int64_t>(static_cast<double>(x) * inv);
  if (q > 255) q = 255;
  if (q < 0) q = 0;
  while (q > 0 && static_cast<uint64_t>(q) * d > x) --q;
  while (q < 255 && static_cast<uint64_t>(q + 1) * d <= x) ++q;
  return static_cast<uint8_t>(q);
}

Status Validate(const ImageView& im, int out_size, const void* out) {
  const int bpp = static_cast<int>(im.format);
  if (bpp != 1 && bpp != 3 && bpp != 4)
    return Status::Error("preprocess: unknown pixel format " + std::to_string(bpp) +
                         " (expected 1 = gray, 3 = RGB, 4 = RGBA)");
  if (im.data == nullptr) return Status::Error("preprocess: image data is null");
  if (out == nullptr) return Status::Error("preprocess: output buffer is null");
  if (im.width <= 0 || im.height <= 0)
    return Status::Error("preprocess: image size " + std::to_string(im.width) + "x" +
                         std::to_string(im.height) + " must be positive");
  const int64_t pixels = int64_t{im.width} * im.height;
  if (pixels > kMaxPixels)
    return Status::Error("preprocess: image size " + std::to_string(im.width) + "x" +
                         std::to_string(im.height) + " = " + std::to_string(pixels) +
                         " pixels exceeds the limit of " + std::to_string(kMaxPixels));
  const int64_t row_bytes = int64_t{im.width} * bpp;
  if (im.stride < row_bytes)
    return Status::Error("preprocess: row stride " + std::to_string(im.stride) +
                         " bytes is less than width " + std::to_string(im.width) + " x " +
                         std::to_string(bpp) + " bytes per pixel = " + std::to_string(row_bytes));
  if (out_size <= 0 || out_size > kMaxOutSize)
    return Status::Error("preprocess: out_size " + std::to_string(out_size) + " must be in 1.." +
                         std::to_string(kMaxOutSize));
  return Status::Ok();
}

}  // namespace

Status preprocess_u8(const ImageView& im, Fit fit, int out_size, uint8_t* out) {
  Status st = Validate(im, out_size, out);
  if (!st) return st;
  if (fit != Fit::kStretch && fit != Fit::kCenterCrop)
    return Status::Error("preprocess: unknown fit mode " + std::to_string(static_cast<int>(fit)));

  // Source region: the whole image, or its centered square (the extra column/row, when the
  // difference is odd, is dropped on the right/bottom).
  int64_t x0 = 0, y0 = 0, sx = im.width, sy = im.height;
  if (fit == Fit::kCenterCrop) {
    const int64_t side = sx < sy ? sx : sy;
    x0 = (sx - side) / 2;
    y0 = (sy - side) / 2;
    sx = sy = side;
  }
  const int64_t n = out_size;
  const int bpp = static_cast<int>(im.format);

  Scratch& sc = ThreadScratch();
  MakeTaps(sx, n, &sc.tx);
  MakeTaps(sy, n, &sc.ty);
  // The vertical sums of one channel are <= sy * 255: 32 bits unless the image is absurdly tall.
  if (static_cast<uint64_t>(sy) * 255u <= 0xFFFFFFFFu)
    Resample<uint32_t>(im, x0, y0, sx, sy, n, &sc, &sc.vsum32, out);
  else
    Resample<uint64_t>(im, x0, y0, sx, sy, n, &sc, &sc.vsum64, out);
  return Status::Ok();
}

Status preprocess(const ImageView& im, Fit fit, int out_size, float* out) {
  Status st = Validate(im, out_size, out);
  if (!st) return st;
  // Compute the bytes, then divide: preprocess == preprocess_u8 / 255 exactly, by construction.
  // The bytes go into the first quarter of `out` itself and are widened back to front: float i
  // (bytes 4i..4i+3) only overwrites bytes >= i, all of which have already been read.
  uint8_t* bytes = reinterpret_cast<uint8_t*>(out);
  st = preprocess_u8(im, fit, out_size, bytes);
  if (!st) return st;
  for (size_t i = static_cast<size_t>(out_size) * out_size; i-- > 0;) {
    const float v = static_cast<float>(bytes[i]) / 255.0f;
    std::memcpy(out + i, &v, sizeof v);
  }
  return Status::Ok();
}

}  // namespace catdog
