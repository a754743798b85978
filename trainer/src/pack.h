// Dataset packs: what `catdog prepare` writes and `catdog train` / `evaluate` / `preview` read.
// A pack is a directory: pack.json (manifest: version, preprocessing settings, counts, content
// hash, shard list with sizes and checksums) + zstd-compressed binary shards, each under a chosen
// size. Format documented in docs/PACK_FORMAT.md. The reader needs no OpenCV (GPU machine).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::pack {

enum Split : uint8_t { kTrain = 0, kVal = 1, kTest = 2 };
const char* SplitName(Split s);  // "train", "val", "test"

struct Pack {
  int size = 100;                // images are size x size, 1 channel, uint8 (preprocess_u8)
  std::string fit = "stretch";   // "stretch" | "crop"
  std::string gray = "bt601";
  uint64_t seed = 0;
  double val_fraction = 0, test_fraction = 0;
  std::string content_hash;      // hex; over pixels+labels+splits in order (not paths)
  std::vector<uint8_t> pixels;   // count() * size * size
  std::vector<uint8_t> labels;   // 0 = cat, 1 = dog
  std::vector<uint8_t> splits;   // Split
  std::vector<std::string> paths;  // source file, relative to its --images root, for reports
  size_t count() const { return labels.size(); }
  const uint8_t* image(size_t i) const { return pixels.data() + i * size_t(size) * size; }
  // Indices of one split, in pack order.
  std::vector<size_t> Indices(Split s) const;
};

// Reads and verifies (version, checksums, sizes) a pack directory or its pack.json.
Status ReadPack(const std::string& dir_or_manifest, Pack* out);
// Writes `pack` into `dir` (created): shards first, each atomically, pack.json last and atomically,
// so a pack with a manifest is always complete. Fills pack.content_hash.
Status WritePack(const std::string& dir, Pack& pack, uint64_t max_shard_bytes = 50ull << 20);

}  // namespace catdog::pack
