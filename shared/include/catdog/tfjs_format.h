// The one reader/writer of the TensorFlow.js layers-model format's data (docs/MODEL_FORMAT.md):
// named weights (weightsManifest entries, dtypes, shards), tfjs_converter's quantization
// (uint8/uint16 affine per tensor, float16), base64, and the one golden-image schema that
// userDefinedMetadata.catdog carries. Like ggml's gguf.cpp for its format: every writer (export,
// quantize, seal, calibrate) and every reader (the core's LoadWeights, finetune, bench) goes
// through here, so a change of the weight format is made in this header and its .cpp only (the
// metadata keys readers act on are parsed in Model::Parse into ModelInfo: docs/MODEL_FORMAT.md).
//
// Bytes in, bytes out: nothing here touches files (the native CLI reads model folders with
// trainer's model_files.h, the page with fetch). No exception crosses it (the wasm build compiles
// it with exceptions disabled); untrusted JSON is read with the depth-limited parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::tfjs {

// ---- base64 (RFC 4648, '=' padded), as golden pixels are stored --------------------------------
std::string Base64Encode(const uint8_t* data, size_t size);
// Fails (naming the offset) on a length that is not a multiple of 4, a character outside the
// alphabet, or '=' anywhere but the last two places.
Status Base64Decode(std::string_view text, std::vector<uint8_t>* out);

// ---- IEEE 754 half --------------------------------------------------------------------------------
uint16_t FloatToHalf(float f);  // round to nearest even (numpy's astype(float16)); overflow -> inf
float HalfToFloat(uint16_t h);  // exact

// ---- dtypes and quantization ------------------------------------------------------------------------
// How a weight is stored in the shards: plain float32, or tfjs_converter's --quantize_* encodings.
enum class DType : int { kFloat32 = 0, kFloat16 = 1, kUint8 = 2, kUint16 = 3 };
const char* DTypeName(DType d);                       // "float32", "float16", "uint8", "uint16"
bool ParseDType(std::string_view name, DType* out);   // the names above
size_t DTypeBytes(DType d);                           // 4, 2, 1, 2

// One tensor quantized as tfjs_converter does: float16 halves; uintN affine with {min, scale}
// (value = q * scale + min), the range nudged so that 0 is exact when it lies inside it; a
// constant tensor gets scale 1. `dequantized` is what every reader decodes (q * scale + min in
// double, rounded once to float32, as TF.js's Float32Array store does).
struct Quantized {
  std::vector<uint8_t> bytes;  // little-endian values
  double min = 0, scale = 1;   // uint8/uint16 only
  std::vector<float> dequantized;
};
Status Quantize(const std::vector<float>& data, DType dtype, Quantized* out);
// Same, dtype by name; an unknown name fails naming it ("--quantize 'int4': ...").
Status QuantizeTensor(const std::vector<float>& data, const std::string& dtype, Quantized* out);

// ---- named weights --------------------------------------------------------------------------------
struct NamedWeight {
  std::string name;            // as in the manifest ("conv2d/kernel"); a trailing ":0" removed on read
  std::vector<int64_t> shape;  // Keras layout
  std::vector<float> data;     // float32 values (dequantized on read)
  DType stored = DType::kFloat32;  // on read: how the shards held it; ignored on write
};

// Every weight of `model_json`'s weightsManifest, in manifest order, decoded from `shards` (one
// per manifest path, in order): sizes checked (naming the short or extra shard), dequantized,
// NaN/Inf refused (naming the weight and index), the same rules as Model::LoadWeights, which
// decodes through the same code. At most `max_bytes` of float32 values. `source_name` names
// model.json in messages.
Status ReadWeights(std::string_view model_json, const std::vector<ShardBytes>& shards,
                   std::string_view source_name, std::vector<NamedWeight>* out,
                   uint64_t max_bytes = 1ull << 30);

// The weightsManifest and shard files for `weights`, all stored as `dtype`: one group whose
// weights are concatenated in order and cut into shards of at most max_shard_bytes, named like
// the converter's ("group1-shard1of2.bin").
struct WriteOptions {
  DType dtype = DType::kFloat32;
  uint64_t max_shard_bytes = 4ull * 1024 * 1024;  // the converter's default
};
struct WeightFiles {
  std::string manifest_json;                 // the weightsManifest array, JSON text
  std::vector<std::string> shard_names;      // in manifest order
  std::vector<std::vector<uint8_t>> shards;  // their bytes
  std::vector<NamedWeight> dequantized;      // what a reader of these files will decode
  std::vector<ShardBytes> Views() const;
};
Status WriteWeights(const std::vector<NamedWeight>& weights, const WriteOptions& options, WeightFiles* out);

// ---- the golden-image schema (one for every golden list in model.json and checkpoints) --------------
// {"name": "...", "format": "gray8"|"rgb8"|"rgba8", "width": W, "height": H,
//  "fit": "stretch"|"crop", "pixels_base64": "...", "expected": [outputs...]}
// `expected` is absent on inputs that have no output yet (a checkpoint's golden images).
// Used by userDefinedMetadata.catdog.selfcheck.goldens, userDefinedMetadata.catdog.golden and a
// checkpoint's golden_images. The one parser: fails naming `where` + "[i].field".
std::string GoldenToJson(const SelfCheckGolden& golden);  // one JSON object, no spaces
Status ParseGoldens(std::string_view json_array, std::string_view where, std::vector<SelfCheckGolden>* out);
// A gray8 stretch golden of side x side pixels (what the model input is made from).
SelfCheckGolden GrayGolden(std::string name, int side, std::vector<uint8_t> pixels);

}  // namespace catdog::tfjs
