// libFuzzer target: the pack reader (pack.json + zstd shards), through pack::ParsePack, the
// in-memory entry that ReadPack uses for files.
// Input layout: [u8 flags][u16 little-endian manifest length][pack.json bytes][shard bytes].
// Every shard file pack.json names gets the same shard bytes. Flags help the fuzzer past the
// checks that random mutations almost never satisfy, so the code behind them gets fuzzed too:
//   bit 0: the shard bytes are the raw (decompressed) shard; the harness compresses them with zstd
//   bit 1: the harness sets each shard entry's bytes / sha256 / raw_bytes to match the shard bytes
// Invariant checked on success: the pack is self-consistent and its content hash is the recorded one.
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const size_t mlen = size_t(data[1]) | size_t(data[2]) << 8;
  if (mlen > size - 3) return 0;
  std::string manifest(reinterpret_cast<const char*>(data + 3), mlen);
  std::vector<uint8_t> shard(data + 3 + mlen, data + size);

  if (flags & 1) {
    static ZSTD_CCtx* cctx = ZSTD_createCCtx();  // one context for the whole run (speed)
    std::vector<uint8_t> comp(ZSTD_compressBound(shard.size()));
    size_t r = ZSTD_compressCCtx(cctx, comp.data(), comp.size(), shard.data(), shard.size(), 1);
    if (ZSTD_isError(r)) __builtin_trap();
    comp.resize(r);
    shard.swap(comp);
  }
  nlohmann::json m = nlohmann::json::parse(manifest, nullptr, false);
  const bool has_shards = m.is_object() && m.contains("shards") && m["shards"].is_array();
  if ((flags & 2) && has_shards) {
    const std::string sum = catdog::pack::Sha256::Hex(shard.data(), shard.size());
    const unsigned long long raw = ZSTD_getFrameContentSize(shard.data(), shard.size());
    for (auto& js : m["shards"]) {
      if (!js.is_object()) continue;
      js["bytes"] = shard.size();
      js["sha256"] = sum;
      if (raw != ZSTD_CONTENTSIZE_ERROR && raw != ZSTD_CONTENTSIZE_UNKNOWN) js["raw_bytes"] = raw;
    }
    manifest = m.dump();
  }
  std::map<std::string, catdog::pack::ByteSpan> files;
  if (has_shards)
    for (const auto& js : m["shards"])
      if (js.is_object() && js.contains("file") && js["file"].is_string())
        files[js["file"].get<std::string>()] = catdog::pack::ByteSpan{shard.data(), shard.size()};

  catdog::pack::ParseOptions opt;
  opt.threads = 1;
  opt.max_pixel_bytes = 64ull << 20;  // keep each run cheap; the cap itself is under test
  catdog::pack::Pack p;
  catdog::Status s = catdog::pack::ParsePack(manifest, files, &p, "fuzz/pack.json", opt);
  if (s.ok()) {
    if (!catdog::pack::ValidatePack(p).ok()) __builtin_trap();
    if (catdog::pack::ContentHash(p) != p.content_hash) __builtin_trap();
  } else if (s.message().empty()) {
    __builtin_trap();  // every refusal says why
  }
  return 0;
}
