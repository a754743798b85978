// AVX-512F microkernels. CMake compiles this file (with -mavx512f -mavx2 -mfma) only for x86-64
// builds with CATDOG_SIMD, and then defines CATDOG_ISA_AVX512 for simd/dispatch.cpp, whose
// dispatcher calls IsaAvx512() only after CpuSupports(CpuNeed::kAvx512f): no code of this file
// runs before that (the table's construction itself uses AVX-512 registers).
#include "simd/isa.h"

#if !defined(__AVX512F__)
#error "simd/isa_avx512.cpp must be compiled with -mavx512f"
#endif
#define CATDOG_ISA_GETTER IsaAvx512
#include "simd/microkernels.h"
