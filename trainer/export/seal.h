// Model self-check for the CLI (catdog.h "self-check"): loading with the check, and `catdog seal`,
// which adds the selfcheck block to an already exported model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::cli {

// fs::LoadModelDir, then RunSelfCheck on the shard bytes just read (before they are freed).
Status LoadModelDirChecked(const std::string& dir_or_json, const LoadOptions& options, std::unique_ptr<Model>* out,
                           SelfCheckReport* report);

// What predict / infer do with the report: "fail" (default: report, still print results, exit
// kExitSelfCheck on a mismatch), "warn" (report only) or "off" (not run).
constexpr int kExitSelfCheck = 3;

// Adds (or, with `force`, replaces) userDefinedMetadata.catdog.selfcheck in DIR/model.json with
// goldens computed by the core (source "catdog-core"): up to two gray photos taken from the
// model's existing `golden` pairs, deterministic patterns, one RGBA image. model.json is
// rewritten atomically with its key order kept; the weight files are not touched. `summary`
// receives the self-check of the sealed model ("model verified (n/n)").
// *bad_input (when given) says whether a failure was the model's (exit 2) or the write's (exit 1).
Status SealModelDir(const std::string& dir_or_json, bool force, std::string* summary, bool* bad_input = nullptr);

// The same on bytes in memory (what `catdog quantize` seals before anything is written):
// `text` is model.json (named `json_path` in messages), `shards` its weight files. *sealed
// receives the new model.json text, already checked to load and verify.
Status SealModelText(const std::string& json_path, const std::string& text, const std::vector<ShardBytes>& shards,
                     bool force, std::string* sealed, std::string* summary);

}  // namespace catdog::cli
