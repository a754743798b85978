// File helpers for the CLI and trainer (shared/ never touches files).
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>

#include "catdog/catdog.h"

namespace catdog::fs {

// The one file reader of the CLI (DESIGN contract 4): every file catdog reads whole (checkpoints,
// teachers, pack.json, index.json, metrics, raw inputs, model files) goes through OpenRegular.
// A FIFO, device, socket or directory is refused by name ("is a FIFO (named pipe), expected a
// regular file") without blocking and without reading a byte; a file larger than `max_bytes` is
// refused before reading; then exactly the size fstat gave is read (a file that grows or shrinks
// meanwhile is an error). Messages name the path and the OS error.
Status ReadFile(const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes = 1ull << 31);
Status ReadTextFile(const std::string& path, std::string* out, uint64_t max_bytes = 1ull << 28);

// The pieces of ReadFile, for readers that check more between the open and the read (model
// shards: same inode as resolved; pack shards: the size pack.json gives). OpenRegular checks the
// type with stat before opening (opening a device can have effects, a FIFO blocks) and again on
// the descriptor, opened O_NONBLOCK so a file swapped for a FIFO in between cannot hang either.
// ReadExactly reads `size` bytes and closes `fd` in every case.
const char* FileTypeName(mode_t mode);
Status OpenRegular(const std::string& path, int* fd, struct stat* st);
Status ReadExactly(int fd, const std::string& path, uint8_t* dst, uint64_t size);
Status ReadExactly(int fd, const std::string& path, uint64_t size, std::vector<uint8_t>* out);

// Writes atomically: the bytes go to a file in a private staging folder beside `path` (see
// StagingDir), are fsynced and renamed over `path`. On any failure the staging folder is removed and
// `path` is left as it was. The parent folder is created; a parent that cannot be created or
// written is reported with the OS error of the step that failed (say, "Permission denied").
Status WriteFileAtomic(const std::string& path, const void* data, size_t size);
Status WriteFileAtomic(const std::string& path, const std::string& text);

// Temporaries are never recognised by a name pattern alone (a user's "thesis.tmp1" is not ours).
// Everything this program stages lives in a private folder DIR/.catdog-tmp-<pid>-<random>/ whose
// first entry is a marker file ".catdog-temporary" holding a signature line, the pid that made it
// and the name it stages for. Only such folders (the marker present and matching, its process gone)
// are ever removed as stale; a process killed mid-write leaves at most one of them.
constexpr char kStagingPrefix[] = ".catdog-tmp-";
// The marker every model folder catdog writes carries (model_files.h WriteModelDir): the files
// catdog wrote there. Dot-named, so the site assembly (wasm/assemble_site.cmake) never ships it.
constexpr char kOutputMarker[] = ".catdog-output";
constexpr char kStagingMarker[] = ".catdog-temporary";

class StagingDir {
 public:
  StagingDir() = default;
  ~StagingDir();  // removes the folder with whatever is still in it
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  // Makes the folder inside `dir` (which must exist) for staging `for_name`.
  Status Create(const std::string& dir, const std::string& for_name);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True when `dir_entry` is a staging folder this program made (marker checked); *for_name and *pid
// receive what the marker says.
bool IsStagingDir(const std::string& dir_entry, std::string* for_name = nullptr, long* pid = nullptr);
// Removes `path` and everything below it (symlinks themselves, never what they point to), like
// std::filesystem::remove_all, which the trainer must not call: the torch 2.x Python wheels'
// libtorch_cpu.so exports its own std::filesystem::remove_all, built against another libstdc++,
// and a program built with g++ 13 that links it crashes in that copy (seen on the GPU machine:
// torch 2.11, Ubuntu 24.04). A missing `path` is not an error. Returns the entries removed.
size_t RemoveTree(const std::string& path, std::error_code& ec);
// Removes stale staging folders directly inside `dir`: those whose marker names a process that is no
// longer running (and, with `for_name`, stages that name), plus empty ones (a kill between mkdir and
// the marker). Nothing else is touched. Returns how many were removed; a missing `dir` is fine.
// A folder replace killed between its two renames (ReplaceDir) leaves the previous folder as
// kPreviousName in a stale staging folder while DIR/<for_name> is absent: that folder is moved
// back into place first (and said so in *recovered), never deleted.
Status RemoveStaleTemps(const std::string& dir, size_t* removed, const std::string& for_name = "",
                        std::vector<std::string>* recovered = nullptr);
constexpr char kPreviousName[] = "previous-folder";

// Moves the finished folder `staged` to `dest`. A previous `dest` is first moved to `aside` (in the
// same staging folder; name it kPreviousName so a kill between the renames is recovered by the next
// RemoveStaleTemps) and moved back if the final rename fails; the caller removes the staging
// folder afterwards.
Status ReplaceDir(const std::string& staged, const std::string& dest, const std::string& aside);

// ---- The output rule (DESIGN contract 4) -----------------------------------------------------
// An output never is an input, a folder holding an input, or a path inside an input folder:
// refused (naming both) when `out` and one of `inputs` are the same path or one contains the
// other, after making both absolute and resolving symlinks as far as they exist (an input that
// does not exist yet, say a run's best.pt, still counts; an empty `out` passes: the caller names
// that problem itself). The caller reports the message as bad input (exit 2).
Status CheckNotAnInput(const std::string& out, const std::vector<std::string>& inputs, const std::string& flag);

// The rule for single-file outputs (prepare --report, preview --out): refused when the path is
// empty, names something that is not a regular file, is inside `inputs` or is one of them, or
// lies in a pack or model folder (a folder holding pack.json, model.json or a model folder's
// marker); an existing regular file is replaced only with `force`.
Status CheckOutputFile(const std::string& path, const std::string& flag, bool force,
                       const std::vector<std::string>& inputs);

// Makes `dst` (which must not exist) a copy of the tree `src` made of hard links: folders are
// made anew, regular files linked (copied where the filesystem refuses a link), symlinks made
// again with the same target; other file types are refused by name. The user's files are never
// moved: until the caller swaps folders, they stay where they were.
Status LinkTree(const std::string& src, const std::string& dst);

// Makes the folder `dir` (and its parents) for writing into, with a message that names it and
// says why not: an existing non-folder, a parent without write permission, ...
Status MakeOutputDir(const std::string& dir, const std::string& flag);

// JSON strings must be UTF-8. A file name that is (nearly always) is returned as it is; one
// that is not gets each byte outside UTF-8 written as "\xNN" and each backslash as "\\",
// so nothing is lost and the JSON can always be written. *escaped says which happened.
std::string JsonSafeName(const std::string& name, bool* escaped = nullptr);

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

// Loads a TF.js layers model from a directory holding model.json (or from a model.json path) through
// OpenModel (model_files.h), keeping only the loaded model.
Status LoadModelDir(const std::string& dir_or_json, const LoadOptions& options,
                    std::unique_ptr<Model>* out);

}  // namespace catdog::fs
