// `catdog infer` (cli/cmd_infer.cpp): runs a TF.js layers model on raw little-endian float32
// input and prints {"shape":[...],"output":[...]} on stdout. Returns 2 on bad input (file size vs
// shape, shape vs model, unreadable or invalid model), 1 when running fails. The model's self-check
// runs after loading (selfcheck "fail" | "warn" | "off"): summary on stderr, "selfcheck" in the
// JSON when the model has the block, kExitSelfCheck (seal.h) after printing the output when it
// fails and the mode is "fail".
#pragma once

#include <string>
#include <vector>

namespace catdog::cli {

struct InferOptions {
  std::string model;
  std::string input;
  std::string shape;
  std::string backend = "auto";
  std::string selfcheck = "fail";
  int threads = 1;
  std::vector<std::string> layer_aliases;  // --layer-alias NAME=CLASS (catdog::ParseLayerAlias)
};

// Errors go to stderr as "error: MESSAGE"; stdout carries only the JSON result.
int RunInfer(const InferOptions& options);

}  // namespace catdog::cli
