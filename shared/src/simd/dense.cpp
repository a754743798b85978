// f32_dense: Dense as a GEMM on the table's gemm microkernels (tiles of batch rows x a block of
// output channels, one task per tile).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "simd/isa.h"
#include "simd/operators.h"
#include "simd/packing.h"
#include "simd/thread_pool.h"

namespace catdog::kernels::simd {
namespace {

// ---- Dense -----------------------------------------------------------------------------------------
class DenseOp final : public Op {
 public:
  CATDOG_LOAD_TIME DenseOp(const Isa& isa, const DenseDesc& d, const float* w, const float* bias, int threads)
      : isa_(isa), d_(d), pool_(threads) {
    const int nv = std::min(isa.dense_nv, CeilDiv(d.out, isa.width));
    packed_ = Pack(isa, static_cast<size_t>(d.in), d.out, w, bias, nv);
    name_ = std::string("f32_dense__") + isa.name + "_" + std::to_string(isa.mr[nv]) + "x" +
            std::to_string(nv * isa.width);
    if (pool_.size() > 1) name_ += "_t" + std::to_string(pool_.size());
  }
  const char* name() const override { return name_.c_str(); }

  void Run(int batch, const float* in, float* out) override {
    src_ = in;
    dst_ = out;
    batch_ = batch;
    const int mr = isa_.mr[packed_.blocks.front().nv];
    row_tiles_ = CeilDiv(batch, mr);
    pool_.Run(row_tiles_ * static_cast<int>(packed_.blocks.size()), &DenseOp::Task, this);
  }

 private:
  static void Task(void* self, int task, int) { static_cast<DenseOp*>(self)->RunTile(task); }

  // One tile: up to mr batch rows x one block of output channels. Narrower blocks allow at
  // least as many rows as the widest (mr shrinks as nv grows), so one row split serves all.
  void RunTile(int task) {
    const auto& blk = packed_.blocks[task / row_tiles_];
    const int mr = isa_.mr[packed_.blocks.front().nv];
    const int b0 = (task % row_tiles_) * mr;
    const int m = std::min(mr, batch_ - b0);
    const int cols = blk.nv * isa_.width;
    const bool direct = blk.oc0 + cols <= d_.out;
    const float* a[kMaxMr];
    for (int p = 0; p < m; ++p) a[p] = src_ + static_cast<size_t>(b0 + p) * d_.in;
    float tmp[kMaxMr * kMaxNv * 16];
    simd::GemmArgs t{};
    t.a = a;
    t.tap_off = &zero_;
    t.ntaps = 1;
    t.cin = d_.in;
    t.w = packed_.w.data() + blk.offset;
    t.bias = packed_.bias.data() + blk.oc0;
    t.lo = d_.clamp_min;
    t.hi = d_.clamp_max;
    float* y = dst_ + static_cast<size_t>(b0) * d_.out + blk.oc0;
    t.c = direct ? y : tmp;
    t.ldc = direct ? d_.out : cols;
    isa_.gemm[blk.nv][m](t);
    if (!direct)
      for (int p = 0; p < m; ++p)
        std::memcpy(y + static_cast<size_t>(p) * d_.out, tmp + p * cols, (d_.out - blk.oc0) * sizeof(float));
  }

  const Isa& isa_;
  DenseDesc d_;
  Workers pool_;
  PackedWeights packed_;
  std::string name_;
  const ptrdiff_t zero_ = 0;
  const float* src_ = nullptr;
  float* dst_ = nullptr;
  int batch_ = 0, row_tiles_ = 0;
};

}  // namespace

CATDOG_LOAD_TIME std::unique_ptr<Op> NewDense(const Isa& isa, const DenseDesc& d, const float* w_io, const float* bias, int threads) {
  return std::make_unique<DenseOp>(isa, d, w_io, bias, threads);
}

}  // namespace catdog::kernels::simd
