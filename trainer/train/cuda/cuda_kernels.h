// Hand-written CUDA kernels for the training step, compiled only where a CUDA libtorch
// and nvcc are found (CATDOG_FUSED_CUDA). This header is plain C++: no torch, no CUDA headers, so
// the .cu file builds without libtorch's headers and the torch side (fused_ops.cpp) without nvcc.
// Every launcher takes the stream to run on (torch's current stream, so CUDA-graph capture works)
// and returns a cudaError_t as int (0 = launched).
#pragma once

#include <cstdint>

namespace catdog::train::cuda {

enum class DType { kFloat32, kBFloat16, kFloat16 };

// relu(max_pool2d(x, 2, 2)) with floor division of odd sizes (the last row/column is dropped).
// x: [N, C, H, W] contiguous (nhwc = false) or channels-last (nhwc = true); y: [N, C, H/2, W/2] in
// the same layout; code: one byte per output element in y's memory order: 0..3 = the window
// position of the maximum (row-major, first maximum wins as in PyTorch; NaN wins), 4 = the ReLU
// zeroed it (max <= 0), so its gradient is 0.
int PoolRelu2x2Forward(const void* x, void* y, uint8_t* code, DType dtype, bool nhwc, int64_t n, int64_t c,
                       int64_t h, int64_t w, void* stream);
// grad_x from grad_y (same layout as the forward) and the forward's codes; writes every element of
// grad_x (zeros included), so grad_x needs no clearing.
int PoolRelu2x2Backward(const void* grad_y, const uint8_t* code, void* grad_x, DType dtype, bool nhwc, int64_t n,
                        int64_t c, int64_t h, int64_t w, void* stream);

// The tutorial's augmentation for one batch in one kernel: out[b] = bilinear sample (border
// padding, align_corners) of data[idx[b]] / 255 at the affine map drawn from u[:, b]. Same formulas
// as augment.cpp's AugmentThetas + affine_grid + grid_sample, in float32.
struct AugmentConsts {
  float rot, hshift, wshift, shear;  // ranges in radians / normalized units, as in AugmentThetas
  float zoom_lo, zoom_span;
  float hflip_prob, vflip_prob;
};
// data: uint8 [rows, s, s]; idx: int64 [batch]; u: float [8, batch]; out: float [batch, s, s].
int GatherAugment(const uint8_t* data, const int64_t* idx, const float* u, float* out, int64_t batch, int64_t s,
                  const AugmentConsts& k, void* stream);

}  // namespace catdog::train::cuda
