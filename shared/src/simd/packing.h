// Weight packing for the SIMD operators, done once when an op is made: output channels in blocks
// of whole vectors of the ISA table, zero padded, so the microkernels never see a channel tail.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels.h"
#include "simd/isa.h"

namespace catdog::kernels::simd {

inline int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Weights [K][out_c] (HWIO flattened, or Dense [in][out]) packed into blocks of nv vectors of
// output channels, each [K][nv * W], zero padded past out_c.
struct PackedWeights {
  struct Block {
    int oc0 = 0, nv = 0;
    size_t offset = 0;  // into w
  };
  std::vector<float> w, bias;  // bias: oc_pad floats
  std::vector<Block> blocks;
  int oc_pad = 0;
};


PackedWeights Pack(const Isa& isa, size_t k, int out_c, const float* w, const float* bias, int nv_max);

// A ChannelAffine copied into arrays of `pad` floats (lanes past `n` get 0 * 0 + 0).
struct PackedAffine {
  std::vector<float> sub, mul, add;
  void Set(const ChannelAffine& a, int n, int pad) {
    if (!a.active()) return;
    sub.assign(pad, 0.0f);
    mul.assign(pad, 0.0f);
    add.assign(pad, 0.0f);
    std::copy(a.sub, a.sub + n, sub.begin());
    std::copy(a.mul, a.mul + n, mul.begin());
    std::copy(a.add, a.add + n, add.begin());
  }
  bool active() const { return !mul.empty(); }
  const float* sub_at(int i) const { return active() ? sub.data() + i : nullptr; }
  const float* mul_at(int i) const { return active() ? mul.data() + i : nullptr; }
  const float* add_at(int i) const { return active() ? add.data() + i : nullptr; }
};

}  // namespace catdog::kernels::simd
