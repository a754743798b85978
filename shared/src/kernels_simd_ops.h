// Internal: ISA-explicit entry points to the SIMD operators, for tests and benchmarks that run
// every compiled ISA the CPU supports (MakeConvSimd / MakeDenseSimd use BestIsa()).
#pragma once

#include <memory>
#include <vector>

#include "kernels.h"
#include "kernels_simd.h"

namespace catdog::kernels::simd {

// The ISA tables this build has and this CPU can run, best first (empty without CATDOG_SIMD).
std::vector<const Isa*> AvailableIsas();
// The first of AvailableIsas(), or the one named by the environment variable CATDOG_ISA
// ("avx512", "avx2", "sse2", "wasm", "scalar") when that one is available. nullptr if none.
const Isa* BestIsa();

std::unique_ptr<Op> MakeConvFor(const Isa* isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                int threads);
std::unique_ptr<Op> MakeDenseFor(const Isa* isa, const DenseDesc& d, const float* w_io, const float* bias,
                                 int threads);

}  // namespace catdog::kernels::simd
