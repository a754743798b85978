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

// The one way every command opens a model folder: ReadModelFiles, then (weights) the core's
// LoadWeights, then (selfcheck) RunSelfCheck on the shard bytes just read, whose report goes to
// *selfcheck_report (a failed check is not an error here: the caller decides; a broken selfcheck
// block is, naming model.json). `out` keeps model.json's text and the shard bytes for the commands
// that rewrite a model (calibrate, quantize, ood-fit, seal, export --format onnx).
struct OpenOptions {
  LoadOptions load;
  bool weights = true;                         // false: parse only (the caller reads the weights itself)
  SelfCheckReport* selfcheck_report = nullptr;  // non-null: run the self-check after loading
};
Status OpenModel(const std::string& dir_or_json, const OpenOptions& options, ModelFiles* out);

// model.json alone, under the same rule (a regular file of at most kMaxModelJsonBytes); sets
// *json_path to dir_or_json + "/model.json" when dir_or_json is a folder.
Status ReadModelJson(const std::string& dir_or_json, std::string* json_path, std::string* text);

// The shard rule alone, for a caller that parsed the manifest itself: reads `rel_paths` relative
// to `json_path`'s folder, at most `max_total_bytes` together.
Status ReadModelShards(const std::string& json_path, const std::vector<std::string>& rel_paths,
                       uint64_t max_total_bytes, std::vector<std::vector<uint8_t>>* blobs);

// The folder a model argument names (a folder, or a model.json / other file in it), for the output
// rule; a path that does not exist is itself (the read fails on it later, with its own message).
std::string ModelFolderOf(const std::string& dir_or_json);

// The output rule for model folders (DESIGN contract 4), for export, quantize, calibrate --out and
// train --export. Every model folder catdog writes holds a marker, kOutputMarker (fsutil.h), listing
// the files catdog wrote there.
struct ModelOutOptions {
  std::string flag = "--out";       // for messages
  bool force = false;               // --force: write over a folder that is not catdog's own output
  std::vector<std::string> inputs;  // what the command reads: the folder may not be one, hold one or lie in one
};

// What is in an existing output folder: entries catdog may replace (its marker's files, model.json
// and the shards that model.json's manifest names, dead staging folders) and the user's others.
struct ModelOutState {
  bool exists = false, has_marker = false;
  std::vector<std::string> foreign;  // relative paths, folders whole ("photos/"), sorted
};
Status InspectModelOut(const std::string& out_dir, ModelOutState* state);

// Checks the rule before any work: `out_dir` is not an input (fs::CheckNotAnInput), is absent, an
// empty folder, or a folder whose marker lists everything in it; anything else is refused naming
// the folder and the entries catdog did not write, unless `force`. Even with `force`, a non-folder,
// or a user's file where the new model puts one of its files, is refused. Refusals are bad input.
Status CheckModelOutDir(const std::string& out_dir, const ModelOutOptions& o);

// Writes a model folder: CheckModelOutDir, then model.json, its shards and the marker into a private
// staging folder beside `out_dir`, each fsynced; with --force the user's other entries of the old
// folder are hard-linked into it (fs::LinkTree: never moved, so a kill at any point leaves them in
// place); then the folders are swapped (fs::ReplaceDir). A kill leaves the old folder or the new
// one, never a mix; one between the swap's two renames is undone by the next write to that name
// (fs::RemoveStaleTemps). Export, quantize, calibrate --out and train --export write through here.
Status WriteModelDir(const std::string& out_dir, const std::string& model_json,
                     const std::vector<std::string>& shard_names, const std::vector<std::vector<uint8_t>>& shards,
                     const ModelOutOptions& o = {});

}  // namespace catdog::fs
