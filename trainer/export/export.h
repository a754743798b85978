// Export a trained checkpoint to the TensorFlow.js layers format, as
// `tensorflowjs_converter --input_format keras` writes it for a Keras 2 Sequential (DESIGN
// contract 3): model.json (format "layers-model", modelTopology with keras_version, backend and
// model_config holding the Keras layer configs, weightsManifest) + group1-shardKofN.bin files of at
// most 4 MiB, weights in Keras layouts:
//   Conv2D kernel        torch [O,I,kh,kw] -> Keras [kh,kw,I,O] (HWIO)
//   depthwise kernel     torch [C,1,kh,kw] -> Keras [kh,kw,C,1]
//   Dense kernel         torch [O,I]       -> Keras [I,O]; the first Dense after a Flatten of an
//                        HxWxC tensor also has its rows reordered from torch's NCHW flatten order
//                        (c,h,w) to Keras' NHWC order (h,w,c).
// Quantization as tfjs_converter's --quantize_{float16,uint16,uint8}: float16 halves; uintN is
// affine per weight tensor with {dtype, min, scale} (range nudged so 0 is exact).
// userDefinedMetadata.catdog carries preprocessing, labels, threshold, the run card and golden
// input -> output pairs computed by libtorch (on the dequantized weights, so they are what a
// correct runtime must reproduce), and the `selfcheck` block (catdog.h: goldens through preprocess(),
// libtorch outputs, shard SHA-256) that runtimes verify right after loading.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/tfjs_format.h"
#include "train.h"

namespace catdog::train {

struct ExportOptions {
  std::string quantize;                          // "", "float16", "uint16", "uint8"
  uint64_t max_shard_bytes = 4ull * 1024 * 1024; // the converter's default shard size
  bool compute_golden = true;                    // run libtorch for the golden pairs
  bool allow_chance = false;                     // export a model that does not beat chance
  bool force = false;                            // write into an out_dir catdog did not write (model_files.h)
  std::vector<std::string> inputs;               // files read (the checkpoint): out_dir may not be/hold them
};

// The run card's learning check (learning_check.h) of a checkpoint. A model that does not beat
// chance on its validation split is refused ("bad input: ..." naming the numbers and
// --allow-chance) unless `allow_chance`; then *warning says what ships. A checkpoint without the
// check (older runs, hand-made ones) passes.
Status CheckLearned(const Checkpoint& ckpt, const std::string& source, bool allow_chance, std::string* warning);

struct GoldenPair {
  std::string desc;
  std::vector<uint8_t> input_u8;  // input_size^2 gray bytes; the model input is input_u8 / 255
  float output = 0;               // P(dog) from libtorch
};

// In-memory export (no files): model.json text + shard contents, in order.
struct TfjsModel {
  std::string model_json;
  std::vector<std::string> shard_names;
  std::vector<std::vector<uint8_t>> shards;
  std::vector<GoldenPair> golden;
};

Status BuildTfjsModel(const Checkpoint& ckpt, const ExportOptions& options, TfjsModel* out);

// BuildTfjsModel, then fs::WriteModelDir (model_files.h) into `out_dir` atomically: a private staging folder beside it
// (fs::StagingDir, marker checked), every file fsynced, then renamed into place. The output rule of
// fs::CheckModelOutDir applies (options.force, options.inputs).
Status ExportTfjs(const Checkpoint& ckpt, const ExportOptions& options, const std::string& out_dir,
                  TfjsModel* written = nullptr);

// `catdog export --format onnx`: BuildTfjsModel, then the in-memory model converted as `catdog
// convert --to onnx` converts a folder (onnx_export.h: the same bytes for the same model.json),
// written to the file `out_file` atomically. An existing `out_file` is replaced only with `force`;
// *bad_input is set when that (or the --out path) is what failed.
Status ExportOnnx(const Checkpoint& ckpt, const ExportOptions& options, const std::string& out_file, bool force,
                  bool* bad_input, std::string* summary = nullptr);

// ---- pieces, exposed for tests ------------------------------------------------------------------
// Row permutation for a Dense fed by Flatten of [h, w, c]: keras_row k -> torch_row perm[k].
std::vector<int64_t> FlattenNhwcToNchw(int64_t h, int64_t w, int64_t c);
// The format's half floats and quantization (catdog/tfjs_format.h), named here for the exporter's callers.
using tfjs::FloatToHalf;
using tfjs::HalfToFloat;
using tfjs::Quantized;
using tfjs::QuantizeTensor;

}  // namespace catdog::train
