// Torch-side wrappers of the CUDA kernels in cuda_kernels.cu. Built only with a CUDA
// libtorch and nvcc (CATDOG_FUSED_CUDA=1); everywhere else the trainer uses the plain torch ops,
// which compute the same functions (tests/trainer/fused_cuda_check.cpp compares the two on a GPU).
#pragma once

#include <torch/torch.h>

#include "augment.h"

namespace catdog::train {

// relu(max_pool2d(x, 2, 2)) for a CUDA tensor [N, C, H, W], contiguous or channels-last, float32,
// bfloat16 or float16; differentiable (one kernel forward, one backward). Other tensors: the
// torch ops.
torch::Tensor PoolRelu2x2(const torch::Tensor& x);

// AugmentBatch(Batch(data, idx)) in one kernel: data uint8 [rows, 1, S, S] on the GPU, idx int64.
// Draws its randomness with the same torch::rand call as AugmentThetas, so a seeded run draws the
// same transforms either way. Returns float [len(idx), 1, S, S] in [0, 1].
torch::Tensor GatherAugment(const torch::Tensor& data, const torch::Tensor& idx, const AugmentParams& p);

}  // namespace catdog::train
