// libtorch side of the architecture registry: the module built from an ArchSpec, Keras-style
// initialisation, and the checkpoint file format. Included only by torch translation units.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "models.h"
#include "train.h"

namespace catdog::train {

// A Sequential built from resolved layers. Child modules carry the Keras layer names ("conv2d",
// "dense_1"), so state names are "conv2d.weight" etc. (ModelTensors order).
class NetImpl : public torch::nn::Module {
 public:
  explicit NetImpl(std::vector<ResolvedLayer> layers);
  // x: [N, 1, S, S] float in [0,1]. Returns logits: [N] for a Dense(1, sigmoid) head, [N, K] for a
  // Dense(K, softmax) one (the final sigmoid / softmax is left out for the loss; Predict applies it).
  torch::Tensor forward(torch::Tensor x);
  // Params and buffers in ModelTensors() order (the live tensors, not copies).
  std::vector<torch::Tensor> ordered_tensors();
  const std::vector<ResolvedLayer>& layers() const { return layers_; }
  // The BatchNorm layers in order (none for the tutorial's models).
  std::vector<torch::nn::BatchNorm2d> batch_norms() const;
  // CUDA builds with the trainer's own kernels (CATDOG_FUSED_CUDA): conv + 2x2 max-pool + ReLU
  // pools and rectifies in one kernel each way on CUDA tensors. Elsewhere a no-op.
  void set_fused_kernels(bool on) { fused_ = on; }

 private:
  struct Entry {
    LayerKind kind;
    Activation act;
    int pool = 2;
    torch::nn::Conv2d conv{nullptr};
    torch::nn::Conv2d dw{nullptr};
    torch::nn::Conv2d pw{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    torch::nn::Linear fc{nullptr};
    torch::nn::Dropout drop{nullptr};
  };
  std::vector<ResolvedLayer> layers_;
  std::vector<Entry> entries_;
  bool fused_ = true;
};
TORCH_MODULE(Net);

// Builds the module (on the CPU) for `arch` at `input_size`.
Status BuildNet(const ArchSpec& arch, int input_size, Net* out);

// Keras defaults: Glorot-uniform kernels (Keras' fan-in/fan-out for conv, depthwise and dense
// kernels), zero biases, BatchNorm gamma 1 / beta 0 / mean 0 / var 1. Draws from torch's default
// CPU generator: call torch::manual_seed first.
void KerasInit(Net& net);

// Optimizer state that travels with a training checkpoint.
struct AdamState {
  torch::Tensor m, v;   // flat, one entry per trainable float (ModelTensors trainable order)
  int64_t step = 0;
};

// Writes model tensors + meta (+ optional Adam state) atomically to `path`.
// meta_json must be a JSON object; "format", "version", "arch", "input_size" and "tensors" are
// filled in here.
Status SaveCheckpointFile(const std::string& path, Net& net, const ArchSpec& arch, int input_size,
                          const std::string& meta_json, const AdamState* adam);
// Reads one; tensors come back on the CPU in ModelTensors order, checked against the stored
// architecture. `adam` may be null; when given and the file has no optimizer state, adam->step = -1.
Status LoadCheckpointFile(const std::string& path, Checkpoint* ckpt, AdamState* adam);
// Copies checkpoint tensors into a module built for the same architecture.
Status CopyIntoNet(const Checkpoint& ckpt, Net& net);

}  // namespace catdog::train
