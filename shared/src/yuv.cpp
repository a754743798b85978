// Planar YUV (I420, NV12) -> RGBA, the camera-frame adapter in front of preprocess(). The formula
// and why it is here: catdog.h, "camera frames".
#include <cstdint>
#include <string>

#include "catdog/catdog.h"

namespace catdog {
namespace {

constexpr int kShift = 14;  // fixed point: coefficients x 2^14
constexpr int kMaxSide = 1 << 14;

struct Coeffs {
  int32_t y_mul, y_off;           // Y' = y_mul (Y - y_off)
  int32_t r_v, g_u, g_v, b_u;     // R += r_v Cr, G -= g_u Cb + g_v Cr, B += b_u Cb
};

int32_t Fixed(double x) { return static_cast<int32_t>(x * (1 << kShift) + (x < 0 ? -0.5 : 0.5)); }

Coeffs MakeCoeffs(YuvMatrix m, bool full_range) {
  const double kr = m == YuvMatrix::kBT709 ? 0.2126 : 0.299;
  const double kb = m == YuvMatrix::kBT709 ? 0.0722 : 0.114;
  const double kg = 1.0 - kr - kb;
  const double ys = full_range ? 1.0 : 255.0 / 219.0;
  const double cs = full_range ? 1.0 : 255.0 / 224.0;
  Coeffs c;
  c.y_mul = Fixed(ys);
  c.y_off = full_range ? 0 : 16;
  c.r_v = Fixed(2.0 * (1.0 - kr) * cs);
  c.g_u = Fixed(2.0 * kb * (1.0 - kb) / kg * cs);
  c.g_v = Fixed(2.0 * kr * (1.0 - kr) / kg * cs);
  c.b_u = Fixed(2.0 * (1.0 - kb) * cs);
  return c;
}

inline uint8_t Clamp(int32_t x) {
  x = (x + (1 << (kShift - 1))) >> kShift;  // round half up (arithmetic shift: floor for negatives)
  return static_cast<uint8_t>(x < 0 ? 0 : x > 255 ? 255 : x);
}

std::string Num(int64_t v) { return std::to_string(v); }

Status Validate(const YuvView& f, const uint8_t* rgba, int rgba_stride) {
  if (f.layout != YuvLayout::kI420 && f.layout != YuvLayout::kNV12)
    return Status::Error("yuv_to_rgba: unknown layout " + Num(static_cast<int>(f.layout)) + " (0 = I420, 1 = NV12)");
  if (f.matrix != YuvMatrix::kBT601 && f.matrix != YuvMatrix::kBT709)
    return Status::Error("yuv_to_rgba: unknown matrix " + Num(static_cast<int>(f.matrix)) + " (0 = BT.601, 1 = BT.709)");
  if (f.width <= 0 || f.height <= 0 || f.width > kMaxSide || f.height > kMaxSide)
    return Status::Error("yuv_to_rgba: frame size " + Num(f.width) + "x" + Num(f.height) + " must be in 1.." +
                         Num(kMaxSide) + " per side");
  const bool nv12 = f.layout == YuvLayout::kNV12;
  if (!f.y || !f.u || (!nv12 && !f.v)) return Status::Error("yuv_to_rgba: a plane pointer is null");
  if (!rgba) return Status::Error("yuv_to_rgba: output buffer is null");
  const int cw = (f.width + 1) / 2;
  if (f.y_stride < f.width)
    return Status::Error("yuv_to_rgba: Y stride " + Num(f.y_stride) + " is less than the width " + Num(f.width));
  const int chroma_row = nv12 ? 2 * cw : cw;
  if (f.u_stride < chroma_row)
    return Status::Error(std::string("yuv_to_rgba: ") + (nv12 ? "UV" : "U") + " stride " + Num(f.u_stride) +
                         " is less than " + Num(chroma_row) + " bytes");
  if (!nv12 && f.v_stride < cw)
    return Status::Error("yuv_to_rgba: V stride " + Num(f.v_stride) + " is less than " + Num(cw) + " bytes");
  if (rgba_stride < int64_t{f.width} * 4)
    return Status::Error("yuv_to_rgba: RGBA stride " + Num(rgba_stride) + " is less than width " + Num(f.width) +
                         " x 4 bytes");
  return Status::Ok();
}

// One output row: pixel pairs share a chroma sample, so its three terms are computed once per pair.
// `cstep` is 1 for I420 planes and 2 for NV12's interleaved UV (v points at the first V byte).
inline void ConvertRow(const Coeffs& c, const uint8_t* yr, const uint8_t* ur, const uint8_t* vr, int cstep,
                       int width, uint8_t* o) {
  const int pairs = width / 2;
  for (int k = 0; k < pairs; ++k) {
    const int32_t u = ur[k * cstep] - 128, v = vr[k * cstep] - 128;
    const int32_t r = c.r_v * v, g = -c.g_u * u - c.g_v * v, b = c.b_u * u;
    const int32_t y0 = c.y_mul * (yr[2 * k] - c.y_off), y1 = c.y_mul * (yr[2 * k + 1] - c.y_off);
    uint8_t* p = o + 8 * k;
    p[0] = Clamp(y0 + r);
    p[1] = Clamp(y0 + g);
    p[2] = Clamp(y0 + b);
    p[3] = 255;
    p[4] = Clamp(y1 + r);
    p[5] = Clamp(y1 + g);
    p[6] = Clamp(y1 + b);
    p[7] = 255;
  }
  if (width & 1) {  // the last column has a chroma sample of its own
    const int32_t u = ur[pairs * cstep] - 128, v = vr[pairs * cstep] - 128;
    const int32_t y = c.y_mul * (yr[width - 1] - c.y_off);
    uint8_t* p = o + 4 * (width - 1);
    p[0] = Clamp(y + c.r_v * v);
    p[1] = Clamp(y - c.g_u * u - c.g_v * v);
    p[2] = Clamp(y + c.b_u * u);
    p[3] = 255;
  }
}

}  // namespace

Status yuv_to_rgba(const YuvView& f, uint8_t* rgba, int rgba_stride) {
  Status st = Validate(f, rgba, rgba_stride);
  if (!st) return st;
  const Coeffs c = MakeCoeffs(f.matrix, f.full_range);
  const bool nv12 = f.layout == YuvLayout::kNV12;
  for (int row = 0; row < f.height; ++row) {
    const uint8_t* yr = f.y + static_cast<int64_t>(row) * f.y_stride;
    const uint8_t* ur = f.u + static_cast<int64_t>(row / 2) * f.u_stride;
    const uint8_t* vr = nv12 ? ur + 1 : f.v + static_cast<int64_t>(row / 2) * f.v_stride;
    ConvertRow(c, yr, ur, vr, nv12 ? 2 : 1, f.width, rgba + static_cast<int64_t>(row) * rgba_stride);
  }
  return Status::Ok();
}

}  // namespace catdog
