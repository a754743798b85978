// How the CPU trainer's tensor memory is kept between steps.
//
// libtorch's CPU tensors come straight from malloc. glibc serves a block larger than its mmap
// threshold (128 KiB at first, raised as blocks are freed, at most 32 MiB) with a fresh mmap() and
// unmaps it on free, and it trims the top of its heap once 128 KiB lie free there. A training step
// allocates and frees the same activations and gradients every time (catnet at batch 32: a 40 MiB
// first activation alone), so each step faulted all of them in again page by page: on the dev
// machine a third of the CPU time went to page faults and one epoch of 1,024 photos took 148 s
// (BENCHMARKS.md, "CPU training memory").
#pragma once

#include <string>

namespace catdog::train {

struct CpuMemoryPolicy {
  bool applied = false;  // malloc now serves every block from its heap and never trims it
  std::string reason;    // why not, when not applied (another C library, the user's own tunables)
};

// Makes freed blocks stay in the process for the next step: no mmap-served blocks, no trimming.
// The process then keeps its peak heap (for catnet at batch 32, about 2.7 GB against 1.3 GB) and
// steps reuse it without faults. Left alone when GLIBC_TUNABLES already sets a glibc.malloc
// tunable (the user's choice wins) or the C library is not glibc. Call before training starts.
CpuMemoryPolicy KeepFreedMemoryForReuse();

}  // namespace catdog::train
