// `catdog prepare` as a library (prepare.cpp; the CLI is cmd_prepare.cpp): image folders -> a dataset pack.
//
// Folder layouts (class names case-insensitive: cat/cats = 0, dog/dogs = 1; with --classes A,B,C
// the folders A or As = 0, B or Bs = 1, C or Cs = 2, ...):
//   ROOT/{Cat,Dog}/...                         (Microsoft PetImages; any cat/cats/dog/dogs folders)
//   ROOT/{train,validation,val,test}/{cats,dogs}/...  (cats_and_dogs_filtered: the split is kept)
//   ROOT named cat/cats/dog/dogs itself
// Class folders are read recursively. Any other folder directly under ROOT (or under a split
// folder) is an error listing them; hidden folders (".name") and loose files there are skipped
// and reported as "outside-class-folder". Symlinks are followed inside a class folder; a symlinked
// folder leading out of it is skipped ("symlink-outside-class-folder"). A file found under both a
// cat and a dog folder (the same inode, or in `Run` the same bytes) is left out with every copy
// ("in-both-classes"). Folders and files that cannot be read are skipped as "unreadable", named.
//
// Pipeline: scan (sorted: --images order, then path) -> read + hash + decode + core preprocess_u8
// on all threads -> exact duplicates by SHA-256 of the file bytes (the first in sorted order is
// kept; the same bytes under both classes: none is kept) -> stratified split of the images without a folder-given split, per class: round(val *
// n_class) val, round(test * n_class) test, the rest train, chosen by a seeded shuffle that is the
// same on every platform -> pack (pack.h), in sorted order. Decoded pixels are held only for files
// that decode (in blocks allocated on first use), so memory follows the images kept, not the files
// found.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "imaging.h"
#include "pack.h"

namespace catdog::prepare {

struct Options {
  std::vector<std::string> image_dirs;
  std::string out;                 // pack directory; empty = do not write (tests)
  double val_fraction = 0.15;
  double test_fraction = 0.0;
  uint64_t seed = 0;
  Fit fit = Fit::kStretch;
  int size = 100;
  int threads = 0;                 // 0 = all cores
  imaging::DecodeOptions decode;   // pixel cap etc.
  pack::WriteOptions write;        // shard size, zstd level
  bool allow_one_class = false;    // else a pack with a class that has no image is refused
  // The classes, in label order (--classes): a folder is class k when its name is classes[k] or
  // classes[k] + "s", any case. Empty: cat and dog (cat/cats, dog/dogs).
  std::vector<std::string> classes;
  // Called on the calling thread about 10 times a second while decoding: (done, total).
  std::function<void(size_t, size_t)> progress;
};

// One file found by the scan.
struct SourceFile {
  std::string path;      // as opened (root joined with rel)
  std::string rel;       // relative to its --images root
  uint8_t label = 0;     // class index into Options::classes
  int split = -1;        // -1 = choose by fraction; else pack::Split given by the folder layout
  uint64_t dev = 0, ino = 0;  // the file reached (after symlinks): one file in both classes is a conflict
};

struct Skipped {
  std::string path;
  std::string reason;    // imaging::ProblemName, "outside-class-folder", "symlink-outside-class-folder"
                         // or "in-both-classes"
  std::string detail;
};

struct Duplicate {
  std::string path;
  std::string same_as;
};

struct Result {
  pack::Pack pack;                                  // what was (or would be) written
  size_t files_found = 0;                           // regular files and links seen in class folders
  std::vector<Skipped> skipped;                     // in scan order
  std::vector<Duplicate> duplicates;
  std::map<std::string, size_t> converted;          // conversion name -> count (used images only)
  std::vector<std::pair<std::string, std::vector<std::string>>> converted_files;
  double scan_s = 0, decode_s = 0, write_s = 0, total_s = 0;
  int threads = 1;
  bool write_failed = false;                        // the pack could not be written (I/O)
};

// Finds the class folders and files under the roots. Unknown folders -> error (bad input) listing
// them; problems with single entries (symlink loops, unreadable folders) go to *skipped.
// `classes` as Options::classes (empty: cat, dog).
Status Scan(const std::vector<std::string>& roots, std::vector<SourceFile>* files, std::vector<Skipped>* skipped,
            const std::vector<std::string>& classes = {});
// The class names a run uses (Options::classes, or cat and dog), checked: 2 to 64 valid labels
// (catdog/classify.h), no two that name the same folder.
Status ClassNames(const std::vector<std::string>& classes, std::vector<std::string>* out);

// Assigns splits in place for files with split == -1 among the `used` ones (see above).
// labels/splits are parallel arrays; splits[i] == -1 means "choose".
void AssignSplits(const std::vector<uint8_t>& labels, std::vector<int>* splits, double val_fraction,
                  double test_fraction, uint64_t seed);

// The whole pipeline. Returns an error for bad arguments or folders, and when no usable image is
// left (the Result is still filled for the report). Writes the pack when options.out is set.
Status Run(const Options& options, Result* result);

// The JSON report ({"images_used", "per_class", "per_split", "skipped", "skipped_files",
// "duplicates", "duplicate_files", "converted", ...}) and the one-line summary.
nlohmann::json Report(const Options& options, const Result& result);
std::string SummaryLine(const Options& options, const Result& result);

}  // namespace catdog::prepare
