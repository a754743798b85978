// Webcam-like corruptions of 100x100 gray frames for `catdog evaluate --corruptions`,
// in the manner of ImageNet-C (Hendrycks & Dietterich 2019): a fixed list of corruption kinds, each
// at severities 1-3 (severity 0 = the image unchanged), every random choice drawn from a generator
// seeded by (seed, kind, severity, image index), so a run is reproducible image by image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::corrupt {

enum class Kind { kGaussianBlur, kNoise, kLowLight, kOverExposure, kJpeg, kMotionBlur, kCropZoom, kRotation };

constexpr int kMaxSeverity = 3;

const std::vector<Kind>& AllKinds();
const char* KindName(Kind k);
// What each severity does, for the report ("sigma 0.8 / 1.5 / 2.5 px").
const char* KindDescription(Kind k);

// Writes the corrupted copy of the size x size gray image `in` to `out` (resized to size*size).
// severity 0 copies the image; 1..kMaxSeverity corrupt it. Bad severities or sizes are an error.
Status Apply(Kind kind, int severity, uint64_t seed, uint64_t index, const uint8_t* in, int size,
             std::vector<uint8_t>* out);

}  // namespace catdog::corrupt
