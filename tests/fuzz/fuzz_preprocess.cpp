// libFuzzer target: preprocessing of any image geometry, stride and pixel format.
// Input layout: [u16 width][u16 height][u16 stride padding][u8 format][u8 fit][u8 out size][pixels...]
#include <cstdint>
#include <cstring>
#include <vector>

#include "catdog/catdog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  uint16_t w, h, pad;
  std::memcpy(&w, data, 2);
  std::memcpy(&h, data + 2, 2);
  std::memcpy(&pad, data + 4, 2);
  static const catdog::PixelFormat kFormats[] = {catdog::PixelFormat::kGray8, catdog::PixelFormat::kRGB8,
                                                 catdog::PixelFormat::kRGBA8};
  catdog::PixelFormat format = kFormats[data[6] % 3];
  catdog::Fit fit = (data[7] & 1) ? catdog::Fit::kCenterCrop : catdog::Fit::kStretch;
  int out_size = data[8] % 130;  // includes 0 and sizes larger than the image
  const uint8_t* pixels = data + 9;
  size_t avail = size - 9;
  int bpp = static_cast<int>(format);
  w %= 512; h %= 512; pad %= 64;
  // The image must lie inside the bytes we have (the API trusts the caller for that).
  size_t stride = size_t(w) * bpp + pad;
  if (h > 0 && (stride * (h - 1) + size_t(w) * bpp) > avail) return 0;
  catdog::ImageView img{pixels, w, h, static_cast<int>(stride), format};
  std::vector<float> out(size_t(out_size) * out_size + 1);
  std::vector<uint8_t> out8(size_t(out_size) * out_size + 1);
  catdog::Status a = catdog::preprocess(img, fit, out_size, out.data());
  catdog::Status b = catdog::preprocess_u8(img, fit, out_size, out8.data());
  if (a.ok() != b.ok()) __builtin_trap();
  if (a.ok()) {
    for (size_t i = 0; i < size_t(out_size) * out_size; ++i) {
      if (!(out[i] >= 0.f && out[i] <= 1.f)) __builtin_trap();
      if (out[i] != out8[i] / 255.f) __builtin_trap();  // contract: preprocess == u8 / 255
    }
  }
  return 0;
}
