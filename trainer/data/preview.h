// `catdog preview` (cli/cmd_preview.cpp): the tutorial's 5x5 grid of pack samples with their labels.
//
// Augmentation hook: the augmentation lives in the libtorch trainer (augment.h), which this
// OpenCV-side library does not link. A build that has both registers an augmenter once (e.g.
// from main() or RegisterTrain, under CATDOG_HAVE_TORCH && CATDOG_HAVE_OPENCV); until one is
// registered, `preview --augment` fails with "--augment needs the torch build".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "pack.h"

namespace catdog::preview {

// Augments `n` images of size x size uint8 gray (row-major, back to back) with randomness from
// `seed`; writes the same layout to `out`.
using Augmenter = std::function<Status(const uint8_t* images, int n, int size, uint64_t seed, std::vector<uint8_t>* out)>;
void SetAugmenter(Augmenter augmenter);
bool HasAugmenter();

struct GridOptions {
  pack::Split split = pack::kTrain;
  uint64_t seed = 0;        // which samples are shown (and the augmentation's randomness)
  int rows = 5, cols = 5;
  int scale = 2;            // each 100x100 sample is drawn at 200x200
  bool augment = false;
};

// Renders the grid (8-bit colour) and encodes it by `ext` (".png", ".jpg", ".bmp") into *encoded.
// Errors: empty split, missing augmenter, unknown extension.
Status RenderGrid(const pack::Pack& pack, const GridOptions& options, const std::string& ext,
                  std::vector<uint8_t>* encoded);

}  // namespace catdog::preview
