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

// True for the names WriteFileAtomic and the model export use for their temporaries
// ("NAME.tmp<digits>", "NAME.tmp-export-<digits>", "NAME.old-export-<digits>"), which a process
// killed mid-write leaves behind.
bool IsStaleTempName(const std::string& name);
// Removes such leftovers (files, or export directories) directly inside `dir`; with `prefix`, only
// those whose name starts with it. Call only while no other process writes there (DirLock).
// Returns how many were removed; a missing `dir` is not an error.
Status RemoveStaleTemps(const std::string& dir, size_t* removed, const std::string& prefix = "");

// An exclusive advisory lock (flock) on a directory, held until destruction; the kernel drops it
// when the process dies, even by SIGKILL, so it never goes stale and leaves no file behind.
class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  // Fails (naming `dir` and `what`) if another process holds it.
  Status Lock(const std::string& dir, const std::string& what);

 private:
  int fd_ = -1;
};

// Loads a TF.js layers model from a directory holding model.json (or from a model.json path):
// parses, reads each shard named by the manifest under the rules of ReadModelFiles
// (model_files.h: regular files inside the folder, each once, bounded bytes), loads weights.
Status LoadModelDir(const std::string& dir_or_json, const LoadOptions& options,
                    std::unique_ptr<Model>* out);

}  // namespace catdog::fs
