#include "fused_ops.h"

#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cmath>

#include "cuda_kernels.h"

namespace catdog::train {

namespace {

cuda::DType KernelDType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kBFloat16: return cuda::DType::kBFloat16;
    case torch::kHalf: return cuda::DType::kFloat16;
    default: return cuda::DType::kFloat32;
  }
}

bool PoolReluSupported(const torch::Tensor& x) {
  const auto t = x.scalar_type();
  return x.is_cuda() && x.dim() == 4 && (t == torch::kFloat || t == torch::kBFloat16 || t == torch::kHalf) &&
         (x.is_contiguous() || x.is_contiguous(torch::MemoryFormat::ChannelsLast));
}

void Check(int err, const char* what) {
  TORCH_CHECK(err == 0, what, ": ", cudaGetErrorString(static_cast<cudaError_t>(err)));
}

void* Stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

class PoolReluFn : public torch::autograd::Function<PoolReluFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    // A 4-d tensor contiguous both ways (C = 1, or 1x1 planes) counts as NCHW.
    const bool nhwc = !x.is_contiguous() && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
    const auto fmt = nhwc ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    torch::Tensor y = torch::empty({n, c, h / 2, w / 2}, x.options().memory_format(fmt));
    torch::Tensor code = torch::empty({n, c, h / 2, w / 2}, x.options().dtype(torch::kByte).memory_format(fmt));
    Check(cuda::PoolRelu2x2Forward(x.data_ptr(), y.data_ptr(), code.data_ptr<uint8_t>(), KernelDType(x), nhwc, n, c,
                                   h, w, Stream()),
          "PoolRelu2x2 forward");
    ctx->save_for_backward({code});
    ctx->saved_data["nhwc"] = nhwc;
    ctx->saved_data["shape"] = x.sizes().vec();
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor code = ctx->get_saved_variables()[0];
    const bool nhwc = ctx->saved_data["nhwc"].toBool();
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    const auto fmt = nhwc ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const torch::Tensor gy = grads[0].contiguous(fmt);
    torch::Tensor gx = torch::empty(shape, gy.options().memory_format(fmt));
    Check(cuda::PoolRelu2x2Backward(gy.data_ptr(), code.data_ptr<uint8_t>(), gx.data_ptr(), KernelDType(gy), nhwc,
                                    shape[0], shape[1], shape[2], shape[3], Stream()),
          "PoolRelu2x2 backward");
    return {gx};
  }
};

}  // namespace

torch::Tensor PoolRelu2x2(const torch::Tensor& x) {
  if (!PoolReluSupported(x)) return torch::relu(torch::max_pool2d(x, {2, 2}, {2, 2}));
  return PoolReluFn::apply(x);
}

torch::Tensor GatherAugment(const torch::Tensor& data, const torch::Tensor& idx, const AugmentParams& p) {
  TORCH_CHECK(data.is_cuda() && data.scalar_type() == torch::kByte && data.dim() == 4 && data.size(1) == 1 &&
                  data.size(2) == data.size(3) && data.is_contiguous(),
              "GatherAugment: expected contiguous uint8 [N,1,S,S] on CUDA, got ", data.sizes());
  TORCH_CHECK(idx.is_cuda() && idx.scalar_type() == torch::kLong && idx.dim() == 1, "GatherAugment: bad idx");
  const int64_t n = idx.size(0), s = data.size(2);
  // The same draw as AugmentThetas: [8, n] uniforms from the device generator.
  const torch::Tensor u = torch::rand({8, n}, torch::TensorOptions().dtype(torch::kFloat).device(data.device()));
  const double kDeg = M_PI / 180.0;
  const double px = s > 1 ? 2.0 / double(s - 1) : 0.0;
  cuda::AugmentConsts k;
  k.rot = float(p.rotation_deg * kDeg);
  k.hshift = float(p.height_shift * double(s) * px);
  k.wshift = float(p.width_shift * double(s) * px);
  k.shear = float(p.shear_deg * kDeg);
  k.zoom_lo = float(p.zoom_lo);
  k.zoom_span = float(p.zoom_hi - p.zoom_lo);
  k.hflip_prob = float(p.hflip_prob);
  k.vflip_prob = float(p.vflip_prob);
  const torch::Tensor ic = idx.contiguous();
  torch::Tensor out = torch::empty({n, 1, s, s}, u.options());
  Check(cuda::GatherAugment(data.data_ptr<uint8_t>(), ic.data_ptr<int64_t>(), u.data_ptr<float>(),
                            out.data_ptr<float>(), n, s, k, Stream()),
        "GatherAugment");
  return out;
}

}  // namespace catdog::train
