// Internal: ISA-explicit entry points to the SIMD operators (dispatch.cpp), for tests and benchmarks
// that run every compiled ISA the CPU supports (MakeConvSimd / MakeDenseSimd use BestIsa()).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "simd/isa.h"

namespace catdog::kernels::simd {

// The ISA tables this build has and this CPU can run, best first (empty without CATDOG_SIMD).
// Only tables whose CPU check passed are built (see CompiledIsas in simd/isa.h).
std::vector<const Isa*> AvailableIsas();
// The first of AvailableIsas(), or the one named by the environment variable CATDOG_ISA
// ("avx512", "avx2", "sse2", "neon", "wasm", "scalar") when that one is available. nullptr if none.
const Isa* BestIsa();
// One line: the table in use and why (best runnable, CATDOG_ISA, or CATDOG_ISA ignored and
// why; *override_ignored says which), the tables compiled in with what the CPU lacks for each, and the CPU flags seen.
std::string DescribeIsa(bool* override_ignored = nullptr);

// How a convolution is computed. kAuto: Winograd F(2x2,3x3) for 3x3 stride-1 convs with at
// least 8 input channels, direct otherwise. kWinograd on an unsupported shape: nullptr.
enum class ConvAlgo { kAuto, kDirect, kWinograd };
// kAuto, or what the environment variable CATDOG_CONV ("direct", "winograd") asks for.
ConvAlgo DefaultConvAlgo();

std::unique_ptr<Op> MakeConvFor(const Isa* isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                int threads, ConvAlgo algo = ConvAlgo::kAuto, const ChannelAffine& post = {});
std::unique_ptr<Op> MakeDepthwiseFor(const Isa* isa, const DepthwiseDesc& d, const float* w, const float* bias,
                                     int threads, const ChannelAffine& post = {});
std::unique_ptr<Op> MakeDenseFor(const Isa* isa, const DenseDesc& d, const float* w_io, const float* bias,
                                 int threads);

// ---- the operators, one file each, named as their op names begin ---------------------------------
// The Make*For above check the arguments and pick one; these assume a supported shape.
bool ConvSupported(const ConvDesc& d);  // any conv the igemm op can run
std::unique_ptr<Op> NewConvIgemm(const Isa& isa, const ConvDesc& d, const float* w_hwio, const float* bias, int threads,
                                 const ChannelAffine& post);  // conv_igemm.cpp
bool Winograd2x2Supports(const ConvDesc& d);  // 3x3, stride 1, no dilation
std::unique_ptr<Op> NewConvWinograd2x2(const Isa& isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                       int threads, const ChannelAffine& post);  // conv_winograd2x2.cpp
std::unique_ptr<Op> NewDense(const Isa& isa, const DenseDesc& d, const float* w_io, const float* bias,
                             int threads);  // dense.cpp
bool DwConvSupported(const DepthwiseDesc& d);  // depth_multiplier 1, consistent shapes
std::unique_ptr<Op> NewDwConv(const Isa& isa, const DepthwiseDesc& d, const float* w, const float* bias, int threads,
                              const ChannelAffine& post);  // dwconv.cpp

}  // namespace catdog::kernels::simd
