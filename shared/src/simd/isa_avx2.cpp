// AVX2 + FMA microkernels. CMake compiles this file (with -mavx2 -mfma) only for x86-64 builds
// with CATDOG_SIMD, and then defines CATDOG_ISA_AVX2 for simd/dispatch.cpp, whose dispatcher calls
// IsaAvx2() only after CpuSupports(CpuNeed::kAvx2Fma): no code of this file runs before that.
#include "simd/isa.h"

#if !defined(__AVX2__) || !defined(__FMA__) || defined(__AVX512F__)
#error "simd/isa_avx2.cpp must be compiled with -mavx2 -mfma (and without -mavx512f)"
#endif
#define CATDOG_ISA_GETTER IsaAvx2
#include "simd/microkernels.h"
