// Keras' Activation layer and the advanced activation layers (ReLU, LeakyReLU, ELU, Softmax): one
// element-wise class, as tfjs-layers' advanced_activations.ts (+ core.ts' Activation).
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

// Activation, ReLU, LeakyReLU, ELU, Softmax layers: one element-wise function.
class ActivationLayer : public Layer {
 public:
  enum Kind { kActivation, kReLU, kLeakyReLU, kELU, kSoftmax };
  explicit ActivationLayer(Kind k) : kind_(k) {}
  Status Configure(const json& cfg) override {
    Status s;
    switch (kind_) {
      case kActivation: {
        const json* a = jsonu::FindNonNull(cfg, "activation");
        if (!a) return Status::Error(ref.str() + ": missing 'activation'");
        return ParseActivation(*a, ref, &act_);
      }
      case kReLU: {
        if (const json* mv = jsonu::FindNonNull(cfg, "max_value")) {
          if (!jsonu::AsDouble(*mv, &max_value_) || std::isnan(max_value_))
            return Status::Error(ref.str() + ": bad max_value " + jsonu::Dump(*mv, 40));
          has_max_ = true;
        }
        if (!(s = ReadDouble(cfg, "negative_slope", ref, 0.0, &slope_))) return s;
        return ReadDouble(cfg, "threshold", ref, 0.0, &threshold_);
      }
      case kLeakyReLU: {
        // Keras 2 / TF.js: alpha; Keras 3: negative_slope. Default 0.3 in all.
        if (jsonu::FindNonNull(cfg, "negative_slope")) return ReadDouble(cfg, "negative_slope", ref, 0.3, &slope_);
        return ReadDouble(cfg, "alpha", ref, 0.3, &slope_);
      }
      case kELU: return ReadDouble(cfg, "alpha", ref, 1.0, &alpha_);
      case kSoftmax: {
        // Keras defaults to -1; tfjs-layers writes 1 (its default), counting the batch axis.
        const json* a = jsonu::FindNonNull(cfg, "axis");
        if (a && a->is_array() && a->size() == 1) a = &(*a)[0];
        if (a && !jsonu::AsInt64(*a, &axis_)) return Status::Error(ref.str() + ": bad softmax axis " + jsonu::Dump(*a, 40));
        act_ = Act::kSoftmax;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
  Status InferShape() override {
    if (in_shapes.size() != 1 || in_shapes[0].empty()) return Status::Error(ref.str() + ": expects one input of rank >= 1");
    out_shape = in_shapes[0];
    if (!NumElements(out_shape, &n_)) return Status::Error(ref.str() + ": shape overflows");
    C_ = out_shape.back();
    if (kind_ == kSoftmax && axis_ != -1 && axis_ != static_cast<int64_t>(out_shape.size()))
      return Status::Error(ref.str() + ": softmax axis " + std::to_string(axis_) + " is not supported for input " +
                           ShapeStr(out_shape) + " (only the last axis)");
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t total = n_ * batch;
    const float* in = ins[0];
    switch (kind_) {
      case kActivation:
      case kSoftmax:
        std::memcpy(out, in, sizeof(float) * static_cast<size_t>(total));
        ApplyActivation(act_, out, total / C_, C_);
        break;
      case kReLU: {
        // Keras: x >= max_value -> max_value; threshold <= x -> x; else negative_slope * (x - threshold).
        const float mx = has_max_ ? static_cast<float>(max_value_) : kernels::kInf;
        const float th = static_cast<float>(threshold_), sl = static_cast<float>(slope_);
        for (int64_t i = 0; i < total; ++i) {
          float x = in[i];
          out[i] = x >= mx ? mx : (x >= th ? x : sl * (x - th));
        }
        break;
      }
      case kLeakyReLU: {
        const float a = static_cast<float>(slope_);
        for (int64_t i = 0; i < total; ++i) out[i] = in[i] >= 0.f ? in[i] : a * in[i];
        break;
      }
      case kELU: {
        const float a = static_cast<float>(alpha_);
        for (int64_t i = 0; i < total; ++i) out[i] = in[i] > 0.f ? in[i] : a * std::expm1(in[i]);
        break;
      }
    }
  }

 private:
  Kind kind_;
  Act act_ = Act::kLinear;
  bool has_max_ = false;
  double max_value_ = 0, slope_ = 0, threshold_ = 0, alpha_ = 1;
  int64_t n_ = 0, C_ = 1, axis_ = -1;
};

}  // namespace

std::unique_ptr<Layer> NewActivation() { return std::make_unique<ActivationLayer>(ActivationLayer::kActivation); }
std::unique_ptr<Layer> NewReLU() { return std::make_unique<ActivationLayer>(ActivationLayer::kReLU); }
std::unique_ptr<Layer> NewLeakyReLU() { return std::make_unique<ActivationLayer>(ActivationLayer::kLeakyReLU); }
std::unique_ptr<Layer> NewELU() { return std::make_unique<ActivationLayer>(ActivationLayer::kELU); }
std::unique_ptr<Layer> NewSoftmax() { return std::make_unique<ActivationLayer>(ActivationLayer::kSoftmax); }

}  // namespace catdog::detail
