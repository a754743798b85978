// Dataset packs: what `catdog prepare` writes and `catdog train` / `evaluate` / `preview` read.
// A pack is a directory: pack.json (manifest: version, preprocessing settings, counts, content
// hash, shard list with sizes and checksums) + zstd-compressed binary shards, each under a chosen
// size. Format documented in docs/PACK_FORMAT.md. The reader needs no OpenCV (GPU machine).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/sha256.h"

namespace catdog::pack {

enum Split : uint8_t { kTrain = 0, kVal = 1, kTest = 2 };
const char* SplitName(Split s);  // "train", "val", "test"
bool ParseSplit(std::string_view name, Split* out);  // the one parser of those names (every --split)

struct Pack {
  int size = 100;                // images are size x size, 1 channel, uint8 (preprocess_u8)
  std::string fit = "stretch";   // "stretch" | "crop"
  std::string gray = "bt601";
  uint64_t seed = 0;
  double val_fraction = 0, test_fraction = 0;
  std::string content_hash;      // hex; over pixels+labels+splits in order (not paths)
  std::vector<uint8_t> pixels;   // count() * size * size
  std::vector<uint8_t> labels;   // the class index of each image, into class_names
  // The K class names (2 to 64; pack.json "labels"), in label order. Packs from before K classes
  // say ["cat", "dog"].
  std::vector<std::string> class_names = {"cat", "dog"};
  std::vector<uint8_t> splits;   // Split
  std::vector<std::string> paths;  // source file, relative to its --images root, for reports
  // Added by `data` (additive): provenance and the shard list as written / verified.
  std::vector<std::string> sources;  // the --images roots, as given
  struct ShardInfo {
    std::string file;      // name inside the pack directory, e.g. "shard-00000.zst"
    size_t first = 0;      // index of its first record in the pack
    size_t records = 0;
    uint64_t bytes = 0;    // file size (compressed)
    uint64_t raw_bytes = 0;
    std::string sha256;    // hex, over the file bytes
  };
  std::vector<ShardInfo> shards;  // filled by WritePack and ReadPack
  size_t count() const { return labels.size(); }
  const uint8_t* image(size_t i) const { return pixels.data() + i * size_t(size) * size; }
  int classes() const { return int(class_names.size()); }
  // Images of each class (class_names order) in split `s`, or in the whole pack when s is -1.
  std::vector<size_t> ClassCounts(int s = -1) const;
  // Indices of one split, in pack order.
  std::vector<size_t> Indices(Split s) const;
};

// Reads and verifies (version, checksums, sizes) a pack directory or its pack.json.
// Built on ParsePack: reads pack.json and the shard files, then runs the same checks.
Status ReadPack(const std::string& dir_or_manifest, Pack* out);

// ---- in-memory reader (same checks as ReadPack; used by ReadPack and the fuzzer) ----------------
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};
struct ParseOptions {
  int threads = 1;                 // shards verified in parallel; 0 = all cores
  uint64_t max_pixel_bytes = 0;    // refuse packs whose records need more pixel memory (0 = no cap)
  std::string shard_prefix;        // put before each shard file name in messages (ReadPack: "DIR/")
};
// Gives the compressed bytes of the shard pack.json describes as `info` (called once per shard,
// on the verifying thread, after the manifest has been checked): sets *bytes, which must stay
// valid while *keep lives, or returns an error naming the shard.
using ShardSource =
    std::function<Status(const Pack::ShardInfo& info, ByteSpan* bytes, std::unique_ptr<uint8_t[]>* keep)>;
// Parses and verifies a pack: `manifest_json` is pack.json's text (named `manifest_name` in
// messages), `source` gives each shard's bytes, which are dropped once that shard is decoded.
// Never throws.
Status ParsePack(std::string_view manifest_json, const ShardSource& source, Pack* out,
                 const std::string& manifest_name, const ParseOptions& options);
// The same for a pack held in memory: `shards` maps each shard file name to its bytes. A shard that
// pack.json lists but `shards` lacks is reported as missing.
Status ParsePack(std::string_view manifest_json, const std::map<std::string, ByteSpan>& shards, Pack* out,
                 const std::string& manifest_name = "pack.json", const ParseOptions& options = {});
// Writes `pack` into `dir` (created): shards first, each atomically, pack.json last and atomically,
// so a pack with a manifest is always complete. Fills pack.content_hash.
Status WritePack(const std::string& dir, Pack& pack, uint64_t max_shard_bytes = 50ull << 20);

// ---- added by `data` (additive) -----------------------------------------------------------------
constexpr int kPackVersion = 1;
constexpr uint64_t kMaxShardBytesLimit = 60ull << 20;  // packs travel in <= 60 MiB pieces

struct WriteOptions {
  uint64_t max_shard_bytes = 50ull << 20;  // every shard file stays <= this (1 KiB .. 60 MiB)
  int zstd_level = 1;                      // 1..19; higher levels gain <1% on filtered pixels
  int threads = 0;                         // shards compressed in parallel; 0 = all cores
};
Status WritePack(const std::string& dir, Pack& pack, const WriteOptions& options);

// Checks that `pack` is self-consistent (sizes of pixels/labels/splits/paths, label and split
// values, settings); WritePack calls it first. Messages name the bad record.
Status ValidatePack(const Pack& pack);

// The pack's content hash (hex SHA-256, see docs/PACK_FORMAT.md): over size, then for each record
// label, split and pixels, in pack order. Paths and settings are not part of it.
std::string ContentHash(const Pack& pack);

// SHA-256 (FIPS 180-4): the core's (catdog/sha256.h). Also used by `prepare` to find duplicate files.
using Sha256 = catdog::Sha256;

}  // namespace catdog::pack
