// Baseline microkernels, compiled with the target's default flags: SSE2 on x86-64, NEON on
// arm64 (aarch64: NEON is part of the base ISA), simd128 under Emscripten (-msimd128), plain
// scalar elsewhere. Always usable on the build's target.
#include "simd/isa.h"

#if defined(CATDOG_SIMD)
#define CATDOG_ISA_GETTER IsaBase
#include "simd/microkernels.h"
#else
namespace catdog::kernels::simd {
template <>
const Isa* IsaBase<kIsaAbi>() {
  return nullptr;
}
}  // namespace catdog::kernels::simd
#endif
