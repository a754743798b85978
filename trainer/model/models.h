// Architecture registry: every model the trainer can build, described once as a Keras-style
// Sequential layer list. The torch module (models_torch.h), the checkpoint layout, and the TF.js
// export (export.h) are all derived from this description, so a new architecture is one entry in
// Architectures() (models.cpp) — nothing else to touch as long as it uses the layer kinds below.
//
// No torch here: export and tests read this without libtorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/tfjs_format.h"

namespace catdog::train {

enum class LayerKind {
  kConv2D,            // units = filters, kernel x kernel, stride, padding, activation, use_bias
  kSeparableConv2D,   // depthwise (multiplier 1) kernel x kernel + pointwise 1x1 to `units`, bias
  kBatchNorm,         // over channels (Keras axis -1), epsilon 1e-3, momentum 0.99
  kMaxPool2D,         // pool = stride = `kernel`, padding valid
  kGlobalAvgPool2D,   // [H,W,C] -> [C]
  kDropout,           // rate
  kFlatten,           // [H,W,C] -> [H*W*C] in Keras' NHWC order
  kDense,             // units, activation
};

enum class Activation { kLinear, kRelu, kSigmoid, kSoftmax };

struct LayerSpec {
  LayerKind kind = LayerKind::kDense;
  int units = 0;            // Conv2D/SeparableConv2D filters, Dense units
  int kernel = 3;           // conv kernel size, or pool size for kMaxPool2D
  int stride = 1;           // conv stride
  bool same_padding = false;
  bool use_bias = true;
  Activation activation = Activation::kLinear;
  float rate = 0.f;         // dropout rate
};

struct ArchSpec {
  std::string name;         // CLI name: "dense", "cnn", ...
  std::string description;
  // Keras Sequential order. Input is [size, size, 1]. The last layer must be Dense(1, sigmoid) (two
  // classes) or Dense(K, softmax) for K = 3..64 classes (WithClasses): training uses the logits (BCE
  // or cross-entropy with logits), the exported model outputs the sigmoid / softmax.
  std::vector<LayerSpec> layers;
};

// Convenience constructors used by the registry (and by tests building ad-hoc architectures).
LayerSpec Conv(int filters, int kernel = 3, Activation act = Activation::kRelu, bool same = false,
               int stride = 1, bool use_bias = true);
LayerSpec SepConv(int filters, int kernel = 3, Activation act = Activation::kRelu, bool same = true);
LayerSpec BatchNorm();
LayerSpec MaxPool(int pool = 2);
LayerSpec GlobalAvgPool();
LayerSpec Dropout(float rate);
LayerSpec Flatten();
LayerSpec Dense(int units, Activation act);

// `arch` with the head for `classes` classes: Dense(1, sigmoid) for 2, Dense(classes, softmax) for
// 3..64 (the registry's architectures are written for 2).
ArchSpec WithClasses(const ArchSpec& arch, int classes);
// How many classes an architecture's head gives: 2 for Dense(1, sigmoid), K for Dense(K, softmax).
int ArchClasses(const ArchSpec& arch);

// All registered architectures, in CLI order.
const std::vector<ArchSpec>& Architectures();
// nullptr if unknown.
const ArchSpec* FindArch(const std::string& name);
// "dense|cnn|cnn-dropout|..." for help texts and messages.
std::string ArchNames();

const char* ActivationName(Activation a);  // Keras names: "linear", "relu", "sigmoid", "softmax"
const char* KerasClassName(LayerKind k);   // "Conv2D", "MaxPooling2D", ...

// One layer after shape inference, with its Keras auto-name ("conv2d", "conv2d_1", "dense", ...).
struct ResolvedLayer {
  LayerSpec spec;
  std::string name;
  std::vector<int64_t> in_shape;   // HWC or [features]
  std::vector<int64_t> out_shape;  // HWC or [features]
};

// Names layers as Keras would in a fresh session and infers shapes for an input of
// [size, size, 1]. Fails (naming the layer) on impossible shapes (a conv larger than its input,
// Dense on an unflattened tensor, a missing final Dense(1, sigmoid), ...).
Status ResolveArch(const ArchSpec& arch, int size, std::vector<ResolvedLayer>* out);

// A trainable or state tensor of the model, in torch layout, named after the torch module path
// ("conv2d.weight", "separable_conv2d.depthwise.weight", "batch_normalization.running_mean").
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool trainable = true;  // false: a buffer (BatchNorm running statistics)
  size_t layer = 0;       // index into the resolved layers
};
// Parameters and buffers in a fixed order (the checkpoint's order).
std::vector<TensorSpec> ModelTensors(const std::vector<ResolvedLayer>& layers);

// Architecture <-> JSON (checkpoints carry their architecture).
std::string ArchToJson(const ArchSpec& arch);
Status ArchFromJson(const std::string& json, ArchSpec* out);

// Base64 is the model format's (catdog/tfjs_format.h); named here for the trainer's callers.
using tfjs::Base64Decode;
using tfjs::Base64Encode;

}  // namespace catdog::train
