// Dispatch (XNNPACK's "configs"): CPU detection, the table of compiled ISAs and the choice of one
// (DESIGN contract 5), the choice of an operator (igemm or Winograd for a conv), and the kernels.h
// entry points. The operators are one file each (conv_igemm, conv_winograd2x2, dense, dwconv); the
// arithmetic lives in the per-ISA microkernels (microkernels.h compiled by isa_<isa>.cpp). This file
// is compiled with the target's default flags.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels.h"
#include "simd/isa.h"
#include "simd/operators.h"

namespace catdog::kernels {
namespace simd {

// ---- ISA selection ------------------------------------------------------------------------------
// This file is compiled with the target's baseline flags. The per-ISA files are compiled with
// higher ones, so their code (the getters included: building a table zeroes a struct with
// AVX-512 stores) may run only after the CPU check; the list below is plain data.

bool CpuSupports(CpuNeed need) {
  switch (need) {
    case CpuNeed::kBaseline:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case CpuNeed::kAvx2Fma:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuNeed::kAvx512f:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f");
#endif
    default:
      return false;
  }
}

namespace {
// CATDOG_ISA_<X> is defined by shared/CMakeLists.txt exactly when simd/isa_<x>.cpp is built.
constexpr IsaEntry kCompiled[] = {
#if defined(CATDOG_SIMD) && defined(CATDOG_ISA_AVX512)
    IsaEntry{"avx512", "avx512f", CpuNeed::kAvx512f, &IsaAvx512<kIsaAbi>},
#endif
#if defined(CATDOG_SIMD) && defined(CATDOG_ISA_AVX2)
    IsaEntry{"avx2", "avx2 fma", CpuNeed::kAvx2Fma, &IsaAvx2<kIsaAbi>},
#endif
#if defined(CATDOG_SIMD)
#if defined(__x86_64__) || defined(__i386__)
    IsaEntry{"sse2", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#elif defined(__aarch64__) && defined(__ARM_NEON)  // as vec.h: arm64's baseline NEON
    IsaEntry{"neon", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#elif defined(__wasm_simd128__)
    IsaEntry{"wasm", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#else
    IsaEntry{"scalar", "", CpuNeed::kBaseline, &IsaBase<kIsaAbi>},
#endif
#endif
    IsaEntry{nullptr, nullptr, CpuNeed::kBaseline, nullptr},  // keeps the array non-empty
};
constexpr int kNumCompiled = static_cast<int>(sizeof(kCompiled) / sizeof(kCompiled[0])) - 1;
}  // namespace

const IsaEntry* CompiledIsas(int* count) {
  *count = kNumCompiled;
  return kCompiled;
}

ConvAlgo DefaultConvAlgo() {
  static const ConvAlgo algo = [] {
    const char* v = std::getenv("CATDOG_CONV");
    if (v && std::strcmp(v, "direct") == 0) return ConvAlgo::kDirect;
    if (v && std::strcmp(v, "winograd") == 0) return ConvAlgo::kWinograd;
    return ConvAlgo::kAuto;
  }();
  return algo;
}

const char* IsaProblem(const Isa& isa) {
  if (!isa.name || isa.width <= 0) return "no name or vector width";
  for (const int nv : {isa.conv_nv, isa.c1_nv, isa.dense_nv})
    if (nv < 1 || nv > kMaxNv) return "channel block (conv_nv, c1_nv or dense_nv) out of 1..kMaxNv";
  for (int nv = 1; nv <= kMaxNv; ++nv) {
    if (isa.mr[nv] < 1 || isa.mr[nv] > kMaxMr) return "mr[nv] out of 1..kMaxMr";
    if (nv > 1 && isa.mr[nv] > isa.mr[nv - 1]) return "mr[nv] grows with nv";
    for (int m = 1; m <= isa.mr[nv]; ++m)
      if (!isa.gemm[nv][m]) return "gemm[nv][m] missing for an m <= mr[nv]";
  }
  if (!isa.pool2 || !isa.winograd2x2_in || !isa.winograd2x2_out) return "pool2 or a Winograd transform missing";
  if (!isa.dwconv3x3 || !isa.dwconv) return "a depthwise row kernel missing";
  return nullptr;
}

std::vector<const Isa*> AvailableIsas() {
  std::vector<const Isa*> out;
  int n = 0;
  const IsaEntry* entries = CompiledIsas(&n);
  for (int i = 0; i < n; ++i) {
    if (!CpuSupports(entries[i].need)) continue;  // before get(): get() runs that ISA's code
    const Isa* isa = entries[i].get();
    if (isa && !IsaProblem(*isa)) out.push_back(isa);
  }
  return out;
}

namespace {
struct Selection {
  const Isa* isa = nullptr;
  std::string why;
  bool override_ignored = false;
};
const Selection& Selected() {
  static const Selection sel = [] {
    Selection s;
    const std::vector<const Isa*> all = AvailableIsas();
    if (all.empty()) {
      s.why = "no SIMD kernels in this build (CATDOG_SIMD off)";
      return s;
    }
    s.isa = all.front();
    s.why = "best the CPU supports";
    // CATDOG_ISA=avx2|sse2|... picks another runnable table (benchmarks, debugging).
    if (const char* want = std::getenv("CATDOG_ISA"); want && *want) {
      const Isa* hit = nullptr;
      for (const Isa* isa : all)
        if (std::strcmp(isa->name, want) == 0) hit = isa;
      if (hit) {
        s.isa = hit;
        s.why = std::string("CATDOG_ISA=") + want;
      } else {
        int n = 0;
        const IsaEntry* entries = CompiledIsas(&n);
        const IsaEntry* entry = nullptr;
        for (int i = 0; i < n; ++i)
          if (std::strcmp(entries[i].name, want) == 0) entry = &entries[i];
        s.override_ignored = true;
        s.why = std::string("CATDOG_ISA=") + want + " ignored (" +
                (entry ? std::string("this CPU lacks ") + entry->cpu_flags : std::string("not compiled into this build")) +
                "); best the CPU supports";
      }
    }
    return s;
  }();
  return sel;
}
}  // namespace

const Isa* BestIsa() { return Selected().isa; }

std::string DescribeIsa(bool* override_ignored) {
  const Selection& sel = Selected();
  if (override_ignored) *override_ignored = sel.override_ignored;
  std::string out = std::string("simd kernels: ") + (sel.isa ? sel.isa->name : "none") + " (" + sel.why + ")";
  int n = 0;
  const IsaEntry* entries = CompiledIsas(&n);
  out += "; compiled:";
  for (int i = 0; i < n; ++i) {
    out += std::string(" ") + entries[i].name;
    if (*entries[i].cpu_flags) out += CpuSupports(entries[i].need) ? "" : std::string(" (CPU lacks ") + entries[i].cpu_flags + ")";
  }
  if (n == 0) out += " none";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  out += "; CPU reports:";
  const std::pair<const char*, bool> flags[] = {
      {"sse4.2", __builtin_cpu_supports("sse4.2")}, {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},     {"fma", __builtin_cpu_supports("fma")},
      {"avx512f", __builtin_cpu_supports("avx512f")}};
  for (const auto& f : flags) out += std::string(" ") + (f.second ? "" : "-") + f.first;
#endif
  return out;
}

bool WinogradWanted(const Isa& isa, const ConvDesc& d, ConvAlgo algo) {
  if (algo == ConvAlgo::kDirect || !Winograd2x2Supports(d)) return false;
  if (algo == ConvAlgo::kWinograd) return true;
  // Auto: Winograd pays off once the GEMMs dominate its transforms (enough input channels).
  (void)isa;
  return d.in_c >= 8;
}

std::unique_ptr<Op> MakeConvFor(const Isa* isa, const ConvDesc& d, const float* w_hwio, const float* bias,
                                int threads, ConvAlgo algo, const ChannelAffine& post) {
  if (!isa || !w_hwio || !ConvSupported(d)) return nullptr;
  if (post.active() && (!post.sub || !post.add)) return nullptr;
  if (algo == ConvAlgo::kWinograd && !Winograd2x2Supports(d)) return nullptr;
  if (WinogradWanted(*isa, d, algo))
    return NewConvWinograd2x2(*isa, d, w_hwio, bias, std::max(1, threads), post);
  return NewConvIgemm(*isa, d, w_hwio, bias, std::max(1, threads), post);
}

std::unique_ptr<Op> MakeDepthwiseFor(const Isa* isa, const DepthwiseDesc& d, const float* w, const float* bias,
                                     int threads, const ChannelAffine& post) {
  if (!isa || !w || !DwConvSupported(d)) return nullptr;
  if (post.active() && (!post.sub || !post.add)) return nullptr;
  return NewDwConv(*isa, d, w, bias, std::max(1, threads), post);
}

std::unique_ptr<Op> MakeDenseFor(const Isa* isa, const DenseDesc& d, const float* w_io, const float* bias,
                                 int threads) {
  if (!isa || !w_io || d.in <= 0 || d.out <= 0) return nullptr;
  return NewDense(*isa, d, w_io, bias, std::max(1, threads));
}

}  // namespace simd

std::unique_ptr<Op> MakeConvSimd(const ConvDesc& d, const float* w_hwio, const float* bias, int threads,
                                 const ChannelAffine& post) {
  return simd::MakeConvFor(simd::BestIsa(), d, w_hwio, bias, threads, simd::DefaultConvAlgo(), post);
}

std::unique_ptr<Op> MakeDepthwiseSimd(const DepthwiseDesc& d, const float* w, const float* bias, int threads,
                                      const ChannelAffine& post) {
  return simd::MakeDepthwiseFor(simd::BestIsa(), d, w, bias, threads, post);
}

std::unique_ptr<Op> MakeDenseSimd(const DenseDesc& d, const float* w_io, const float* bias, int threads) {
  return simd::MakeDenseFor(simd::BestIsa(), d, w_io, bias, threads);
}

bool SimdAvailable() { return simd::BestIsa() != nullptr; }
std::string DescribeSimd(bool* override_ignored) { return simd::DescribeIsa(override_ignored); }

}  // namespace catdog::kernels
