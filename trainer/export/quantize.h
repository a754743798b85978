// `catdog quantize`: a float32 model folder -> a quantized one (tfjs_converter's uint8 / uint16
// affine or float16, catdog/tfjs_format.h), re-sealed as `catdog seal` does (goldens computed by
// the core on the quantized weights, shard SHA-256), written atomically, and optionally listed in
// the page's models/index.json. Replaces scripts/quantize-model.mjs and the hand edit of the index.
#pragma once

#include <cstdint>
#include <string>

#include "catdog/catdog.h"

namespace catdog::cli {

struct QuantizeOptions {
  std::string dtype;    // "uint8", "uint16" or "float16"
  std::string out;      // the new model folder
  std::string index;    // models/index.json to add/replace the entry in ("" = none)
  std::string title;    // the entry's title ("" = the source entry's, with the dtype)
  std::string metrics;  // `catdog evaluate --json` output of the quantized model ("" = none)
  bool allow_chance = false;  // quantize a model whose run card says it does not beat chance
  bool force = false;   // --force: write into an --out catdog did not write (its other entries kept)
};

struct QuantizeResult {
  std::string id;              // the out folder's name: the index entry's id
  size_t weights = 0;          // tensors quantized
  uint64_t weight_bytes = 0;   // bytes of the new shards
  uint64_t size_bytes = 0;     // model.json + shards
  std::string selfcheck;       // "model verified (n/n)"
  double max_abs_diff = 0;     // largest |quantized - float| output over the self-check goldens
  std::string warning;         // what shipped anyway (--allow-chance)
};

// Fails with a message naming the file, the flag and the value on bad input (a model folder that
// does not load, weights already quantized, an index.json that is not the page's, an --out that
// the index cannot reach, an --out that is the model or holds it or that catdog did not write
// (without force): fs::CheckModelOutDir): *bad_input is set then and nothing is written. Reads and checks
// everything (the index too) before writing the model folder, then the index.
Status QuantizeModelDir(const std::string& model, const QuantizeOptions& options, QuantizeResult* result,
                        bool* bad_input);

}  // namespace catdog::cli
