// The trainer's CUDA kernels (trainer/train/fused_ops.h) against the torch ops they replace, on a
// GPU: forward values and input gradients of relu(max_pool2d(x, 2)) must be identical (max is
// exact in every dtype, first maximum wins in both), GatherAugment must match index_select +
// AugmentBatch within float rounding. Also times both at the fast mode's batch. Built only with
// nvcc (CATDOG_FUSED_CUDA); run on the GPU machine by scripts/gpu/job-speed. Exit 1 on a mismatch.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "augment.h"
#include "fused_ops.h"

namespace {

using catdog::train::AugmentBatch;
using catdog::train::AugmentParams;
using catdog::train::GatherAugment;
using catdog::train::PoolRelu2x2;

int failures = 0;

void Expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

std::string Name(torch::ScalarType t) { return c10::toString(t); }

// Forward and backward of the fused op and the torch ops on the same input and upstream gradient.
void CheckPool(std::vector<int64_t> shape, torch::ScalarType dtype, bool nhwc, bool specials) {
  auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(dtype);
  torch::Tensor base = torch::randn(shape, opts.dtype(torch::kFloat)).to(dtype);
  if (specials) {  // exact ties, zeros, negatives only, NaN
    base = base.round().clamp(-2, 2);
    base.view(-1)[0] = NAN;
  }
  const auto fmt = nhwc ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  base = base.contiguous(fmt);
  torch::Tensor a = base.clone().set_requires_grad(true), b = base.clone().set_requires_grad(true);
  torch::Tensor ya = PoolRelu2x2(a);
  torch::Tensor yb = torch::relu(torch::max_pool2d(b, {2, 2}, {2, 2}));
  torch::Tensor g = torch::randn(yb.sizes(), opts.dtype(torch::kFloat)).to(dtype);
  ya.backward(g);
  yb.backward(g);
  const bool fwd = torch::equal(ya.nan_to_num(7), yb.nan_to_num(7));
  const bool bwd = torch::equal(a.grad(), b.grad());
  const bool layout = ya.is_contiguous(fmt) && a.grad().is_contiguous(fmt);
  std::string what = "pool+relu " + std::string(shape.size() ? "" : "") + Name(dtype) + (nhwc ? " NHWC " : " NCHW ") +
                     std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + "x" +
                     std::to_string(shape[3]) + (specials ? " ties/NaN" : "");
  if (!fwd || !bwd) {
    const double df = (ya.nan_to_num(7).to(torch::kFloat) - yb.nan_to_num(7).to(torch::kFloat)).abs().max().item<double>();
    const double db = (a.grad().to(torch::kFloat) - b.grad().to(torch::kFloat)).abs().max().item<double>();
    what += " (max |dy| " + std::to_string(df) + ", max |dgrad| " + std::to_string(db) + ")";
  }
  Expect(fwd && bwd && layout, what);
}

double TimeMs(const std::function<void()>& f, int iters) {
  for (int i = 0; i < 3; ++i) f();
  torch::cuda::synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  torch::cuda::synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
}

}  // namespace

int main() {
  if (!torch::cuda::is_available()) {
    std::fprintf(stderr, "fused_cuda_check: no CUDA device visible; this check runs on the GPU machine\n");
    return 1;
  }
  torch::manual_seed(1);
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    for (bool nhwc : {false, true}) {
      for (auto shape : std::vector<std::vector<int64_t>>{
               {4, 32, 100, 100}, {3, 64, 50, 50}, {3, 128, 25, 25}, {2, 3, 7, 9}, {1, 1, 5, 4}, {2, 12, 6, 6}}) {
        CheckPool(shape, dtype, nhwc, false);
      }
      CheckPool({2, 32, 12, 13}, dtype, nhwc, true);
    }
  }

  // Gather + augmentation: same draws (same seed), same formulas, float rounding apart.
  auto u8 = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kByte);
  torch::Tensor data = torch::randint(0, 256, {300, 1, 100, 100}, u8);
  // Smooth images too (sampling error scales with the image's slope).
  torch::Tensor ramp = torch::arange(100, torch::TensorOptions().device(torch::kCUDA)).mul(2.5).to(torch::kByte);
  data.narrow(0, 0, 10).copy_(ramp.view({1, 1, 1, 100}).expand({10, 1, 100, 100}));
  const AugmentParams p;
  for (int64_t n : {1, 32, 257}) {
    torch::Tensor idx = torch::randint(0, 300, {n}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kLong));
    idx[0] = 3;
    torch::manual_seed(42 + n);
    torch::Tensor fused = GatherAugment(data, idx, p);
    torch::manual_seed(42 + n);
    torch::Tensor ref = AugmentBatch(data.index_select(0, idx).to(torch::kFloat).mul_(1.0 / 255.0), p);
    const double err = (fused - ref).abs().max().item<double>();
    const double mean_err = (fused - ref).abs().mean().item<double>();
    Expect(fused.sizes() == ref.sizes() && err < 2e-3,
           "gather+augment batch " + std::to_string(n) + ": max |diff| " + std::to_string(err) + ", mean " +
               std::to_string(mean_err));
  }

  // Timings at the fast mode's largest layer (bf16, channels-last, batch 1024).
  for (auto shape : std::vector<std::vector<int64_t>>{{1024, 32, 100, 100}, {32, 32, 100, 100}}) {
    auto bf = torch::TensorOptions().device(torch::kCUDA).dtype(shape[0] == 32 ? torch::kFloat : torch::kBFloat16);
    const bool cl = shape[0] != 32;
    torch::Tensor x = torch::randn(shape, bf).contiguous(cl ? torch::MemoryFormat::ChannelsLast
                                                            : torch::MemoryFormat::Contiguous);
    x.set_requires_grad(true);
    torch::Tensor g = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2}, bf)
                          .contiguous(cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous);
    const double fused = TimeMs([&] { PoolRelu2x2(x).backward(g); x.mutable_grad().reset(); }, 20);
    const double ref = TimeMs(
        [&] { torch::relu(torch::max_pool2d(x, {2, 2}, {2, 2})).backward(g); x.mutable_grad().reset(); }, 20);
    std::printf("time pool+relu fwd+bwd %s %s %ldx%ldx%ldx%ld: fused %.3f ms, torch %.3f ms (%.2fx)\n",
                Name(x.scalar_type()).c_str(), cl ? "NHWC" : "NCHW", long(shape[0]), long(shape[1]), long(shape[2]),
                long(shape[3]), fused, ref, ref / fused);
  }
  for (int64_t n : {32, 1024}) {
    torch::Tensor idx = torch::randint(0, 300, {n}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kLong));
    const double fused = TimeMs([&] { GatherAugment(data, idx, p); }, 50);
    const double ref =
        TimeMs([&] { AugmentBatch(data.index_select(0, idx).to(torch::kFloat).mul_(1.0 / 255.0), p); }, 50);
    std::printf("time gather+augment batch %ld: fused %.3f ms, torch ops %.3f ms (%.2fx)\n", long(n), fused, ref,
                ref / fused);
  }
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
