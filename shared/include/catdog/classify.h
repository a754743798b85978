// The answer for one sample, for any number of classes (DESIGN contract 2).
//
// A model has K = ModelInfo::labels.size() classes (2 to 64). Its raw output per sample is either
// one sigmoid unit, P(labels[1]) of a two-class model (the tutorial's six and the binary catnets),
// or K softmax probabilities. Every place that shows an answer (predict, evaluate, calibrate's
// metrics, the page through the wasm export catdog_classify) calls Classify: nothing downstream
// re-derives probabilities, calibration or the decision.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace catdog {

struct ModelInfo;

constexpr int kMaxClasses = 64;

// Why `name` cannot be a class label, "" when it can: 1 to 64 bytes of valid UTF-8 with no control
// characters, no '/' or '\\', not "." or "..". A label names a folder (prepare's class folders, the
// page's zip of kept examples, `catdog unpack`) and a line of a report. Model::Parse also refuses two
// equal labels.
std::string LabelProblem(std::string_view name);

// How many classes the model has (labels.size(); Model::Parse has checked it against the output).
int ClassCount(const ModelInfo& info);

// One sample's raw output (`raw_size` floats: 1 sigmoid unit, or K softmax units) -> the K
// calibrated probabilities in probs[0..K) and the index of the class shown.
//  * Calibration: the stored temperature divides the logits: for one sigmoid unit
//    sigmoid(logit(p) / T) (ApplyCalibration), for a softmax softmax(log(p) / T + b) with b the
//    model's class offsets (ModelInfo::class_bias, `catdog calibrate --keep-recall`; 0 when absent).
//  * Decision (Decide below).
// Returns -1, with every probability NaN, when the output holds a NaN or its size is not 1 or K.
int Classify(const ModelInfo& info, const float* raw, size_t raw_size, float* probs);

// Mirror averaging (DESIGN contract 2) for an image (raw) and its left-right mirror (raw_mirrored):
// each classified, the K calibrated probabilities averaged (MirrorAverage), then Decide. `probs`
// holds 2 K floats (the second half is scratch). -1 as Classify.
int ClassifyMirrored(const ModelInfo& info, const float* raw, const float* raw_mirrored, size_t raw_size,
                     float* probs);

// The decision from K calibrated probabilities (one sample's, or an average of several, e.g. an
// image and its mirror): for K = 2, class 1 when probs[1] >= info.threshold, else class 0; for
// K > 2 the largest probability (the lower index on a tie). -1 when one is NaN.
int Decide(const ModelInfo& info, const float* probs);

}  // namespace catdog
