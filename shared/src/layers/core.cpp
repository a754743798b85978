// Keras core layers: InputLayer and Dense (on the last axis of any rank).
#include <cstring>

#include "kernels.h"
#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

// The model's input: its shape is set by the graph; the output is the caller's input data.
class InputLayer : public Layer {
 public:
  Status Configure(const json&) override { return Status::Ok(); }
  Status InferShape() override { return Status::Ok(); }
  bool IsAlias() const override { return true; }
  void Run(int, const std::vector<const float*>&, float*) override {}
};

std::unique_ptr<kernels::Op> MakeDenseOp(Backend b, const kernels::DenseDesc& d, const float* w, const float* bias, int threads) {
  if (b == Backend::kSimd) return kernels::MakeDenseSimd(d, w, bias, threads);
  if (b == Backend::kXnnpack) return kernels::MakeDenseXnnpack(d, w, bias, threads);
  return nullptr;
}


class DenseLayer : public Layer {
 public:
  Status Configure(const json& cfg) override {
    Status s;
    if (!(s = ReadPositiveInt(cfg, "units", ref, &units_))) return s;
    if (!(s = ReadActivation(cfg, ref, &act_))) return s;
    return ReadBool(cfg, "use_bias", ref, true, &use_bias_);
  }
  Status InferShape() override {
    if (in_shapes.size() != 1 || in_shapes[0].empty())
      return Status::Error(ref.str() + ": expects one input of rank >= 1");
    Status s = CheckDims(ref, in_shapes[0]);
    if (!s) return s;
    out_shape = in_shapes[0];
    d_.in = static_cast<int>(out_shape.back());
    d_.out = units_;
    out_shape.back() = units_;
    rows_ = 1;
    for (size_t i = 0; i + 1 < in_shapes[0].size(); ++i) rows_ *= in_shapes[0][i];
    return Status::Ok();
  }
  std::vector<WeightSpec> Weights() const override {
    std::vector<WeightSpec> w{{"kernel", {d_.in, units_}}};
    if (use_bias_) w.push_back({"bias", {units_}});
    return w;
  }
  Status Bind(std::vector<std::vector<float>> w, const BindOptions& opt) override {
    kernel_ = std::move(w[0]);
    if (use_bias_) bias_ = std::move(w[1]);
    bool is_clamp;
    ClampFor(act_, &d_.clamp_min, &d_.clamp_max, &is_clamp);
    post_act_ = !is_clamp;
    op_ = MakeDenseOp(opt.backend, d_, kernel_.data(), use_bias_ ? bias_.data() : nullptr, opt.threads);
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    int rows = static_cast<int>(batch * rows_);
    if (op_) {
      op_->Run(rows, ins[0], out);
    } else {
      kernels::DenseRef(d_, rows, ins[0], kernel_.data(), use_bias_ ? bias_.data() : nullptr, out);
    }
    if (post_act_) ApplyActivation(act_, out, rows, units_);
  }
  std::string KernelName() const override { return op_ ? op_->name() : "dense_ref"; }

 private:
  int units_ = 0;
  int64_t rows_ = 1;
  bool use_bias_ = true, post_act_ = false;
  Act act_ = Act::kLinear;
  kernels::DenseDesc d_;
  std::vector<float> kernel_, bias_;
  std::unique_ptr<kernels::Op> op_;
};

}  // namespace

std::unique_ptr<Layer> NewInputLayer() { return std::make_unique<InputLayer>(); }
std::unique_ptr<Layer> NewDense() { return std::make_unique<DenseLayer>(); }

}  // namespace catdog::detail
