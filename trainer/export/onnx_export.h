// TF.js layers model -> ONNX: `catdog convert MODEL_DIR --to onnx --out
// FILE.onnx`. The model folder is read with the one model reader (model_files.h) and its weights
// with the format's one decoder (catdog/tfjs_format.h: uint8/uint16/float16 dequantized to
// float32, exactly the values the core computes with), then written as a standard ONNX model
// (opset 13, IR version 7; onnx_proto.h writes the bytes):
//  * input "input": float32 NHWC [N, H, W, C], the model's own input contract (for the catdog
//    models [N,100,100,1] in [0,1]: preprocess() of an image, DESIGN contract 1); a Transpose
//    to NCHW feeds the convolutions, and one back to NHWC comes before a Keras Flatten (which
//    flattens NHWC order), so the outputs are the core's;
//  * output "output": the model's output ([N,1] sigmoid P(dog) for the catdog models), raw:
//    calibration is metadata, as in the core;
//  * metadata_props "catdog.*": labels, input size, fit, gray formula, input scale, layout,
//    threshold, calibration temperature (when present), the preprocessing contract, the
//    "neither cat nor dog" rule when it is max-prob, and the source model.json's SHA-256.
// Sequential models with the layers the core runs in shipped models: InputLayer, Conv2D,
// DepthwiseConv2D, SeparableConv2D, BatchNormalization, Max/AveragePooling2D,
// GlobalAverage/GlobalMaxPooling2D, ZeroPadding2D, Flatten, Dense, the dropout/noise layers (identity at
// inference), Activation/ReLU/LeakyReLU/ELU/Softmax; activations linear, relu, relu6, sigmoid,
// hard_sigmoid, tanh, softmax, elu, selu, swish/silu, softplus, softsign. Anything else is refused
// naming the layer and the value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/tfjs_format.h"

namespace catdog::cli {

constexpr int64_t kOnnxOpset = 13;

struct OnnxModelSummary {
  size_t nodes = 0, initializers = 0, layers = 0;
  uint64_t weight_floats = 0;
  std::string quantization;  // how the source stored its weights ("float32", "uint8", ...)
};

// The ONNX bytes for the model `model_json` (its text) with `weights` (decoded, float32). `info` is
// what the core parsed (input shape). `source_name` names model.json in messages;
// `model_json_sha256` goes into the metadata. Fails naming the layer and value it cannot convert.
Status TfjsToOnnx(const std::string& model_json, const std::vector<tfjs::NamedWeight>& weights,
                  const ModelInfo& info, const std::string& source_name, const std::string& model_json_sha256,
                  std::string* onnx_bytes, OnnxModelSummary* summary);

// The same from a model folder's bytes (model.json text + its shards in manifest order), as
// `catdog export --format onnx` has them in memory: parsed and loaded by the core first (its
// checks), weights decoded by tfjs::ReadWeights.
Status TfjsBytesToOnnx(const std::string& model_json, const std::vector<ShardBytes>& shards,
                       const std::string& source_name, std::string* onnx_bytes, OnnxModelSummary* summary);

// Whether `out` may be written: not a folder, not one of `inputs` (the model's own files, even with
// --force), and not an existing file unless `force`. The message names --out and the file.
Status CheckOnnxOut(const std::string& out, bool force, const std::vector<std::string>& inputs);

struct ConvertOptions {
  std::string model;     // folder holding model.json, or the model.json path
  std::string to;        // "onnx"
  std::string out;       // the file to write
  bool force = false;    // replace an existing --out (never the model's own files)
};

struct ConvertResult {
  OnnxModelSummary summary;
  uint64_t bytes = 0;
  std::string sha256;  // of the written file
};

// Reads, converts, writes `out` atomically (fs::WriteFileAtomic). On bad input (a model that does
// not load or cannot be converted, an --out that exists without --force or is one of the model's
// files, an unknown --to) *bad_input is set and nothing is written.
Status ConvertModel(const ConvertOptions& options, ConvertResult* result, bool* bad_input);

}  // namespace catdog::cli
