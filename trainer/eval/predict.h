// `catdog predict` (cli/cmd_predict.cpp): decode (imaging.h) -> the core's preprocess ->
// Model::Run -> label, P(dog), milliseconds per image. The model's self-check runs after loading
// (selfcheck "fail" | "warn" | "off"); its summary goes to stderr and, with as_json, into the
// document.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imaging.h"

namespace catdog::cli {

struct PredictOptions {
  std::string model, fit, backend = "auto", selfcheck = "fail";
  bool as_json = false;
  bool flip = false;  // mirror averaging, as `evaluate --flip` and the page's option
  int threads = 1;
  uint64_t max_pixels = imaging::DecodeOptions().max_pixels;
  std::vector<std::string> images;
  std::vector<std::string> layer_aliases;  // --layer-alias NAME=CLASS (catdog::ParseLayerAlias)
};

// Prints one line per image (or one JSON document) on stdout; returns the exit code: 2 when the
// model or an image is bad input (every image is still tried), kExitSelfCheck (seal.h) when the
// self-check failed in "fail" mode, else 0.
int RunPredict(const PredictOptions& options);

}  // namespace catdog::cli
