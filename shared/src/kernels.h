// Internal kernel contract between the layer graph (model.cpp, layers/*.cpp) and the compute
// kernels (kernels_ref.cpp, simd/, kernels_xnnpack.cpp). Not installed.
//
// Layout: NHWC float32 activations; conv kernels HWIO [kh][kw][in_c][out_c] (Keras order);
// dense weights [in][out]. Microkernels assert preconditions only; the graph validated them.
#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <string>

// Load-time code inside files of per-frame code (the SIMD operators' constructors: weight packing
// and the Winograd transform of the weights): optimised for size in the wasm build, where its
// bytes are page weight (wasm/CMakeLists.txt); the per-frame functions of the same files keep -O3.
#if defined(__EMSCRIPTEN__)
#define CATDOG_LOAD_TIME __attribute__((minsize))
#else
#define CATDOG_LOAD_TIME
#endif

namespace catdog::kernels {

constexpr float kInf = std::numeric_limits<float>::infinity();

// A 2-D convolution with optional fused clamp activation (relu = [0, inf), relu6 = [0, 6],
// linear = (-inf, inf)) and an optional fused 2x2 stride-2 max-pool (Keras 'valid', floor).
struct ConvDesc {
  int in_h = 0, in_w = 0, in_c = 0;
  int out_c = 0;
  int kh = 0, kw = 0;
  int stride_h = 1, stride_w = 1;
  int dil_h = 1, dil_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // from 'valid'/'same'
  int out_h = 0, out_w = 0;            // conv output size, before the fused pool
  float clamp_min = -kInf, clamp_max = kInf;
  bool fuse_maxpool2 = false;          // then the op writes (out_h/2) x (out_w/2) x out_c
  int final_h() const { return fuse_maxpool2 ? out_h / 2 : out_h; }
  int final_w() const { return fuse_maxpool2 ? out_w / 2 : out_w; }
};

struct DenseDesc {
  int in = 0, out = 0;
  float clamp_min = -kInf, clamp_max = kInf;
};

// A depthwise 2-D convolution (Keras DepthwiseConv2D, and the first half of SeparableConv2D):
// out[y][x][c * mult + m] = clamp(bias + sum_{ky,kx} in[y*sh - pad_top + ky][x*sw - pad_left + kx][c]
// * w[ky][kx][c][m]), zero padding. Weights [kh][kw][channels][mult] (Keras order).
struct DepthwiseDesc {
  int in_h = 0, in_w = 0, channels = 0, mult = 1;
  int kh = 0, kw = 0;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int out_h = 0, out_w = 0;
  float clamp_min = -kInf, clamp_max = kInf;
  int out_c() const { return channels * mult; }
};

// A pooling window (kh x kw, stride, top/left padding) over in_h x in_w x channels.
struct PoolDesc {
  bool is_max = true;  // else average
  int in_h = 0, in_w = 0, channels = 0;
  int kh = 2, kw = 2;
  int stride_h = 2, stride_w = 2;
  int pad_top = 0, pad_left = 0;
  int out_h = 0, out_w = 0;
};

// A per-output-channel affine applied after the clamp: y = (y - sub[c]) * mul[c] + add[c]. It is an
// inference BatchNormalization that follows a ReLU'd conv, folded into that conv's epilogue at
// load (with a fused 2x2 max-pool it comes before the max, so negative scales stay exact). All
// three arrays hold out_c floats, or all three are null (no affine). Ops copy them at creation.
struct ChannelAffine {
  const float* sub = nullptr;
  const float* mul = nullptr;
  const float* add = nullptr;
  bool active() const { return mul != nullptr; }
};

// ---- scalar references: always built, the oracle for every other path ----------------------
void Conv2DRef(const ConvDesc& d, int batch, const float* in, const float* w_hwio,
               const float* bias /*nullable*/, float* out);
void DenseRef(const DenseDesc& d, int batch, const float* in, const float* w_io,
              const float* bias /*nullable*/, float* out);
void DepthwiseRef(const DepthwiseDesc& d, int batch, const float* in, const float* w,
                  const float* bias /*nullable*/, float* out);
// In place over rows x channels values (NHWC: rows = pixels): v = (v - sub[c]) * mul[c] + add[c].
void ChannelAffineRef(const ChannelAffine& a, size_t rows, int channels, float* data);
// MaxPooling2D / AveragePooling2D, NHWC, zero-or-more padding cells that never count: a max
// ignores them, an average divides by the cells inside the input (TensorFlow's 'same'). The one
// pooling reference: the layers run it, and the SIMD fused 2x2 max-pool is tested against it.
void PoolRef(const PoolDesc& d, int batch, const float* in, float* out);

// ---- prepacked fast operators --------------------------------------------------------------------
// Built once at load (weights packed then), run many times. Run() allocates nothing after the
// first call with a given batch size.
class Op {
 public:
  virtual ~Op() = default;
  virtual void Run(int batch, const float* in, float* out) = 0;
  virtual const char* name() const = 0;  // e.g. "f32_conv3x3_c1__sse_fused_pool"
};

// Return nullptr when the shape/config is not supported by that backend: the caller falls
// back to the reference. `threads` >= 1. `post` (optional) is applied after the clamp and before
// the fused pool.
std::unique_ptr<Op> MakeConvSimd(const ConvDesc& d, const float* w_hwio, const float* bias, int threads,
                                 const ChannelAffine& post = {});
std::unique_ptr<Op> MakeDenseSimd(const DenseDesc& d, const float* w_io, const float* bias, int threads);
// depth_multiplier 1 only (nullptr otherwise).
std::unique_ptr<Op> MakeDepthwiseSimd(const DepthwiseDesc& d, const float* w, const float* bias, int threads,
                                      const ChannelAffine& post = {});
// Only in builds with CATDOG_WITH_XNNPACK (else they return nullptr).
std::unique_ptr<Op> MakeConvXnnpack(const ConvDesc& d, const float* w_hwio, const float* bias, int threads);
std::unique_ptr<Op> MakeDenseXnnpack(const DenseDesc& d, const float* w_io, const float* bias, int threads);

// Whether the SIMD kernels were compiled in (CATDOG_SIMD and a supported ISA).
bool SimdAvailable();
bool XnnpackAvailable();
// Which SIMD table runs and why (simd/operators.h DescribeIsa).
std::string DescribeSimd(bool* override_ignored = nullptr);

}  // namespace catdog::kernels
