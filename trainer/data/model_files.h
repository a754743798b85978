// Reading a model folder (model.json + the shards its manifest names) from disk, for every
// subcommand that loads a TF.js model (infer, predict, evaluate, bench, calibrate, seal, finetune).
// The core takes bytes only; this is the one place that decides which files a model may make the
// CLI read: regular files inside the model's folder (after resolving '..' and symlinks), each
// once, no more bytes in total than the manifest's weights need (checked before reading).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::fs {

// model.json files larger than this are refused before reading (the shipped ones are ~100 KB).
constexpr uint64_t kMaxModelJsonBytes = 64ull << 20;

struct ModelFiles {
  std::string json_path;                    // model.json, as named (dir_or_json + "/model.json")
  std::string text;                         // its text
  std::unique_ptr<Model> model;             // parsed; weights not loaded yet
  std::vector<std::vector<uint8_t>> blobs;  // each shard's bytes, in shard_paths() order
  std::vector<ShardBytes> Views() const;
};

// Reads model.json (a regular file: a FIFO or device is refused without blocking), parses it with
// `options`, then reads the shards: each must resolve (symlinks and '..' followed) to a regular
// file inside model.json's folder, no two may be the same file, and their sizes together may not
// exceed the bytes the weights need. Messages name model.json and the shard path.
Status ReadModelFiles(const std::string& dir_or_json, const LoadOptions& options, ModelFiles* out);

// model.json alone, under the same rule (a regular file of at most kMaxModelJsonBytes); sets
// *json_path to dir_or_json + "/model.json" when dir_or_json is a folder.
Status ReadModelJson(const std::string& dir_or_json, std::string* json_path, std::string* text);

// The shard rule alone, for a caller that parsed the manifest itself: reads `rel_paths` relative
// to `json_path`'s folder, at most `max_total_bytes` together.
Status ReadModelShards(const std::string& json_path, const std::vector<std::string>& rel_paths,
                       uint64_t max_total_bytes, std::vector<std::vector<uint8_t>>* blobs);

}  // namespace catdog::fs
