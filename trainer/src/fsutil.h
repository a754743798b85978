// File helpers for the CLI and trainer (shared/ never touches files).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::fs {

// Reads a whole file; the message names the path and the OS error.
Status ReadFile(const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes = 1ull << 31);
Status ReadTextFile(const std::string& path, std::string* out, uint64_t max_bytes = 1ull << 28);

// Writes atomically: a temp file beside `path` (same directory), fsync, rename over `path`.
// On any failure the temp file is removed and `path` is left as it was.
Status WriteFileAtomic(const std::string& path, const void* data, size_t size);
Status WriteFileAtomic(const std::string& path, const std::string& text);

// Loads a TF.js layers model from a directory holding model.json (or from a model.json path):
// parses, reads each shard named by the manifest, loads weights. Messages name the file.
Status LoadModelDir(const std::string& dir_or_json, const LoadOptions& options,
                    std::unique_ptr<Model>* out);

}  // namespace catdog::fs
