// `catdog unpack` (cli/cmd_unpack.cpp): a pack's images and labels as NumPy .npy arrays, one pair
// per split, so Python tools (the PyTorch reference trainer in bench/, notebooks) read exactly the
// pixels catdog trains on.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "pack.h"

namespace catdog::pack {

// One split written: OUT/x_<name>.npy (uint8 N,S,S) and OUT/y_<name>.npy (uint8 N).
struct UnpackedSplit {
  std::string name;    // "train", "val", "test"
  size_t images = 0;
  std::string x_path;  // OUT/x_<name>.npy
};

// Writes every non-empty split of `pack` into `out_dir` (each file atomically), in the order
// train, val, test. On failure (a file that cannot be written) *written holds the splits written
// before it.
Status UnpackToNpy(const Pack& pack, const std::string& out_dir, std::vector<UnpackedSplit>* written);

}  // namespace catdog::pack
