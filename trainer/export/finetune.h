// Fine-tuning starts from a shipped model: a TF.js layers model (model.json + shards, as
// `catdog export` and the quantize tool write them) read back into a training checkpoint. This is
// the inverse of export.h's layout mapping:
//   Conv2D kernel   Keras [kh,kw,I,O] -> torch [O,I,kh,kw]
//   depthwise       Keras [kh,kw,C,1] -> torch [C,1,kh,kw];  pointwise [1,1,I,O] -> [O,I,1,1]
//   Dense kernel    Keras [I,O]       -> torch [O,I], rows of a Dense fed by Flatten put back from
//                   Keras' NHWC order into torch's NCHW order
//   BatchNorm       gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var
// Weights are read by the format's one reader (catdog/tfjs_format.h ReadWeights): quantized ones
// (uint8/uint16 affine, float16) dequantized as TF.js does (q * scale + min, one float32 rounding). The architecture comes from userDefinedMetadata.catdog.arch (or `arch_override`)
// and every weight's name and shape must match it; messages name model.json and the weight.
#pragma once

#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "train.h"

namespace catdog::train {

struct TfjsCheckpoint {
  Checkpoint ckpt;            // weights in torch layout; meta carries the model's fit/gray
  std::string source_json;    // {"model": path, "id", "arch", "model_json_sha256", "quantization", "pack_content_hash"}
};

// `dir_or_json`: a model directory or its model.json.
Status CheckpointFromTfjs(const std::string& dir_or_json, const std::string& arch_override, TfjsCheckpoint* out);

// Distillation teachers (`train --teacher`): each path is a run folder or .pt checkpoint
// (ReadCheckpoint) or a model folder / model.json (CheckpointFromTfjs). Fills options->teachers and
// options->teachers_json (path, arch, source). Messages name the path.
// A two-class checkpoint (Dense(1, sigmoid) head, logit z = w.f + b) as a K-class one (Dense(K,
// softmax)) that answers its two classes exactly as before: rows 0 and 1 of the new head are
// -w/2, -b/2 and w/2, b/2 (so logit 1 - logit 0 = z), rows 2..K-1 are zero (their logit 0). The body's
// tensors are copied; the meta's labels become `labels`.
Status WidenHead(const Checkpoint& in, const std::vector<std::string>& labels, Checkpoint* out);

Status LoadTeachers(const std::vector<std::string>& paths, TrainOptions* options);

}  // namespace catdog::train
