// Turns a Keras model topology (Sequential, Functional/Model, models nested in either; the Keras 2,
// Keras 3 and tfjs-layers dialects) into a flat list of layers in execution order.
// Internal to the core.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "catdog/catdog.h"
#include "json_util.h"
#include "layers.h"

namespace catdog::detail {

struct Graph {
  std::vector<std::unique_ptr<Layer>> layers;  // topological order; layers[i].inputs index earlier layers
  int input = -1;                              // index of the InputLayer
  int output = -1;                             // index of the layer whose output is the model's
  Shape input_shape;                           // without batch
};

// `topology` is model.json's modelTopology (either the model config itself, or a Keras
// {model_config: ...} wrapper). Configures every layer and infers every shape. Fails with a
// message naming `source`, the layer and the value on: unsupported classes, bad configs,
// dangling or cyclic references, duplicate names, several inputs/outputs, shapes out of range.
// `aliases`: custom class names to build as a class the core runs (LoadOptions::layer_aliases).
// A layer called several times in a Functional model (a shared layer) is one Layer per call, each
// after the first with weights_of set to the first (they share its manifest weights).
using LayerAliases = std::vector<std::pair<std::string, std::string>>;
Status BuildGraph(const jsonu::json& topology, const std::string& source, Graph* graph, const LayerAliases& aliases = {});
// Checks LoadOptions::layer_aliases: each target a class the core runs, each name not one of them.
Status CheckLayerAliases(const LayerAliases& aliases, const std::string& source);

// Fuses Conv2D / SeparableConv2D (relu/relu6/linear) + MaxPooling2D 2x2/2 'valid' where the conv's
// output feeds only that pool (also through a BatchNormalization folded by FuseBatchNorm). Call
// before binding weights, after FuseBatchNorm.
void FuseConvPool(Graph* graph);

// Folds each BatchNormalization into the Conv2D / DepthwiseConv2D / SeparableConv2D that feeds it
// (relu/relu6/linear activation) where the BN is that layer's only consumer: the BN layer becomes
// an alias, bound before its producer (layers.h FuseBatchNorm). Call before binding weights.
void FuseBatchNorm(Graph* graph);

}  // namespace catdog::detail
