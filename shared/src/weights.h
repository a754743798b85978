// The weightsManifest of a TF.js model.json: which shards exist, which weights they hold (name,
// shape, encoding) and how to decode them to float32. Internal to the core: the part of the
// format's one reader (catdog/tfjs_format.h, ReadWeights) that Model::LoadWeights calls directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/tfjs_format.h"
#include "json_util.h"

namespace catdog::detail {

enum class WeightEncoding { kFloat32, kFloat16, kUint8, kUint16 };

struct WeightEntry {
  std::string name;              // manifest name, a trailing ":0" removed
  std::vector<int64_t> shape;
  int64_t count = 0;             // number of elements (1 for a scalar)
  WeightEncoding encoding = WeightEncoding::kFloat32;
  double min = 0.0, scale = 1.0; // uint8/uint16: value = q * scale + min
  int group = 0;                 // index of the manifest group holding it
  uint64_t byte_offset = 0;      // within the group's shards, concatenated
  uint64_t byte_size = 0;
};

struct Manifest {
  std::vector<std::string> paths;      // every shard, in manifest order
  std::vector<int> path_group;         // group index of each path
  std::vector<uint64_t> group_bytes;   // bytes the weights of each group need
  std::vector<WeightEntry> weights;    // manifest order
  uint64_t total_floats = 0;
  uint64_t total_bytes = 0;            // sum of group_bytes: what all shards together must hold
};

// Limits on the shard list (a 1 GiB model in the converter's 4 MB shards has 256).
constexpr size_t kMaxShards = 4096;
constexpr size_t kMaxShardPathBytes = 1024;

// Parses `weightsManifest`. Fails on a shard path that is not a plain relative path inside the
// model's folder (absolute, '..' above it, URL/shell metacharacters, over kMaxShardPathBytes),
// a file listed twice (after resolving '.' and '..'), more than kMaxShards paths, a malformed entry, an unsupported dtype or quantization,
// shapes that overflow, or dequantized weights over `max_bytes`. `src` names the file in messages.
Status ParseManifest(const jsonu::json& manifest, const std::string& src, uint64_t max_bytes,
                     Manifest* out);

// Checks the shard count and sizes (naming the shard that is short or has extra bytes), decodes
// every weight to float32 (dequantizing), and rejects NaN/Inf (naming the weight).
// out[i] holds manifest.weights[i].
Status DecodeWeights(const Manifest& manifest, const std::vector<ShardBytes>& shards,
                     const std::string& src, std::vector<std::vector<float>>* out);

// IEEE half -> float, exact (the format's one copy, tfjs_format.h).
using tfjs::HalfToFloat;

}  // namespace catdog::detail
