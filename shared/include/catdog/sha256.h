// SHA-256 (FIPS 180-4) for the core and its users: the self-check compares weight shards with the
// hashes recorded at export, dataset packs checksum their shards. Self-contained (no OpenSSL).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace catdog {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  std::array<uint8_t, 32> Final();  // call once
  // Lower-case hex digest of `size` bytes at `data`.
  static std::string Hex(const void* data, size_t size);
  static std::string ToHex(const std::array<uint8_t, 32>& digest);
  // Native x86-64 builds use the SHA extensions when the CPU has them (default; env
  // CATDOG_NO_SHA_NI=1 turns them off). Returns whether they exist. For tests comparing both paths.
  static bool SetAcceleration(bool enabled);

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace catdog
