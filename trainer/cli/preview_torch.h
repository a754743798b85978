// Registers the libtorch augmentation (augment.h) as `catdog preview --augment`'s augmenter.
// Header-only on purpose: the OpenCV side (cmd_preview.cpp) does not link torch and the torch
// side (catdog_train) must build without OpenCV (GPU machine), so only a translation unit that
// sees both — main.cpp in a build with both — includes this and calls it once.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "augment.h"
#include "preview.h"

namespace catdog::preview {

inline void RegisterTorchAugmenter() {
  SetAugmenter([](const uint8_t* images, int n, int size, uint64_t seed, std::vector<uint8_t>* out) -> Status {
    try {
      torch::NoGradGuard no_grad;
      torch::manual_seed(seed);
      torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(images), {n, 1, size, size}, torch::kUInt8)
                            .to(torch::kFloat32)
                            .div(255.0);
      torch::Tensor y = train::AugmentBatch(x, train::AugmentParams{});
      torch::Tensor u8 = y.mul(255.0).round().clamp(0, 255).to(torch::kUInt8).contiguous();
      out->assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Error(std::string("preview: augmentation failed: ") + e.what());
    }
  });
}

}  // namespace catdog::preview
