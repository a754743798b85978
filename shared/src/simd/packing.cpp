#include "simd/packing.h"

#include <algorithm>

namespace catdog::kernels::simd {

PackedWeights Pack(const Isa& isa, size_t k, int out_c, const float* w, const float* bias, int nv_max) {
  PackedWeights p;
  const int W = isa.width;
  for (int oc0 = 0; oc0 < out_c; oc0 += nv_max * W) {
    PackedWeights::Block b;
    b.oc0 = oc0;
    b.nv = std::min(nv_max, CeilDiv(out_c - oc0, W));
    b.offset = p.w.size();
    const int cols = b.nv * W;
    p.w.resize(p.w.size() + k * cols, 0.0f);
    float* dst = p.w.data() + b.offset;
    for (size_t kk = 0; kk < k; ++kk)
      for (int j = 0; j < cols && oc0 + j < out_c; ++j) dst[kk * cols + j] = w[kk * out_c + oc0 + j];
    p.blocks.push_back(b);
    p.oc_pad += cols;
  }
  p.bias.assign(p.oc_pad, 0.0f);
  if (bias) std::copy(bias, bias + out_c, p.bias.begin());
  return p;
}

}  // namespace catdog::kernels::simd
