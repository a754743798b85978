// Keras layers as the core runs them: NHWC float32, batch first. Each layer parses its Keras config,
// infers its output shape, names the weights it needs, binds them (building fast kernels for the
// chosen backend) and runs. The classes live one family per file in layers/ (as tfjs-layers and
// Keras split them); which Keras class names exist is the one list layers/registry.inc. Conv2D,
// depthwise convs and Dense go through the kernels contract (kernels.h). Internal to the core.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "json_util.h"

namespace catdog::detail {

using Shape = std::vector<int64_t>;  // one sample's shape, without the batch dimension

std::string ShapeStr(const Shape& s);
// Product of the dims; false on overflow or a negative dim.
bool NumElements(const Shape& s, int64_t* out);

// Where a layer is, for messages: "model.json: layer 'conv2d' (Conv2D)".
struct LayerRef {
  std::string source;
  std::string name;
  std::string class_name;
  std::string str() const { return source + ": layer '" + name + "' (" + class_name + ")"; }
};

// A weight a layer needs: its kind as Keras names it ("kernel", "bias", "gamma", ...) and shape.
struct WeightSpec {
  std::string kind;
  Shape shape;
};

struct BindOptions {
  Backend backend = Backend::kReference;  // resolved: kReference, kSimd or kXnnpack
  int threads = 1;
};

// Element-wise activations (TF.js semantics; hard_sigmoid is TF.js' clip(0.2x + 0.5, 0, 1)).
// The names are layers/registry.inc's CATDOG_ACTIVATION entries.
enum class Act {
#define CATDOG_ACTIVATION(name, str) k##name,
#include "layers/registry.inc"
};
// Parses a Keras activation (a string, or a Keras 3 serialized object). Message names the value.
Status ParseActivation(const jsonu::json& j, const LayerRef& where, Act* out);
// Applies in place to rows x channels values; softmax normalizes each row.
void ApplyActivation(Act act, float* data, int64_t rows, int64_t channels);

class Layer {
 public:
  virtual ~Layer() = default;

  LayerRef ref;                 // name, class, source file
  std::vector<std::string> path;  // enclosing model names, outermost first (weight-name matching)
  std::vector<int> inputs;      // indices of the layers whose outputs feed this one
  std::vector<Shape> in_shapes; // set by the graph before InferShape
  Shape out_shape;              // set by InferShape
  bool is_input = false;        // the model's InputLayer (reads the caller's input)
  int weights_of = -1;          // a shared layer's later call: the index of the layer whose weights it uses
  // The classes the fusion hooks below look for (layers/convolutional.cpp), set by their
  // constructors: the hooks test this instead of dynamic_cast, so the wasm core is built without
  // RTTI (wasm/CMakeLists.txt: type_info names and __dynamic_cast were about 1 KB gzip of the page).
  enum class Kind : unsigned char { kOther, kConv2D, kDepthwise, kPool, kBatchNorm };
  Kind kind = Kind::kOther;

  // Parses the Keras config object.
  virtual Status Configure(const jsonu::json& config) = 0;
  // From in_shapes, sets out_shape; fails on inconsistent shapes.
  virtual Status InferShape() = 0;
  // Weights this layer needs (after InferShape), in Keras' order.
  virtual std::vector<WeightSpec> Weights() const { return {}; }
  // Receives the weights in Weights() order (shapes already checked) and prepares to run.
  virtual Status Bind(std::vector<std::vector<float>> weights, const BindOptions& opt) {
    (void)weights;
    (void)opt;
    return Status::Ok();
  }
  // True when the output is the first input's data unchanged (no buffer, no work).
  virtual bool IsAlias() const { return false; }
  // Sizes internal scratch for `batch` (called outside Run; Run then allocates nothing).
  virtual void Reserve(int batch) { (void)batch; }
  // Computes `batch` samples. ins[i] holds batch * numel(in_shapes[i]) floats.
  virtual void Run(int batch, const std::vector<const float*>& ins, float* out) = 0;
  // A one-line description of the kernel used, for the layer summary ("" if nothing special).
  virtual std::string KernelName() const { return ""; }
};

// Creates the layer for a Keras class name, or nullptr when the class is not supported
// (layers/registry.inc lists the supported ones).
std::unique_ptr<Layer> CreateLayer(const std::string& class_name);
// The Keras class names CreateLayer knows, in registry.inc's order.
const std::vector<std::string>& RegisteredLayers();

// Hooks used by the graph's fusion passes. Whether a Conv2D or SeparableConv2D can absorb a
// following 2x2/2 'valid' MaxPooling2D, and doing it (its output shape becomes the pooled one).
bool CanFuseMaxPool(const Layer& conv, const Layer& pool);
void FuseMaxPool(Layer* conv, Layer* pool);
// Whether a Conv2D, DepthwiseConv2D or SeparableConv2D with a linear/relu/relu6 activation can
// absorb the BatchNormalization that follows it, and doing it: the BN becomes an alias (IsAlias)
// whose statistics the producer applies, so the BN must be bound before the producer. Fuse BNs
// before pools (a pool is then fused through the folded BN).
bool CanFuseBatchNorm(const Layer& producer, const Layer& bn);
void FuseBatchNorm(Layer* producer, Layer* bn);

}  // namespace catdog::detail
