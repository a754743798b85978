// Keras dropout and noise layers (Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout,
// AlphaDropout): they act only in training, so at inference the output is the input's data.
#include "layers/common.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

class IdentityLayer : public Layer {
 public:
  Status Configure(const json&) override { return Status::Ok(); }
  Status InferShape() override {
    if (in_shapes.size() != 1) return Status::Error(ref.str() + ": expects 1 input, got " + std::to_string(in_shapes.size()));
    int64_t n;
    if (!NumElements(in_shapes[0], &n)) return Status::Error(ref.str() + ": input shape overflows");
    out_shape = in_shapes[0];
    return Status::Ok();
  }
  bool IsAlias() const override { return true; }
  void Run(int, const std::vector<const float*>&, float*) override {}
};

}  // namespace

std::unique_ptr<Layer> NewDropout() { return std::make_unique<IdentityLayer>(); }
std::unique_ptr<Layer> NewSpatialDropout2D() { return std::make_unique<IdentityLayer>(); }
std::unique_ptr<Layer> NewGaussianNoise() { return std::make_unique<IdentityLayer>(); }
std::unique_ptr<Layer> NewGaussianDropout() { return std::make_unique<IdentityLayer>(); }
std::unique_ptr<Layer> NewAlphaDropout() { return std::make_unique<IdentityLayer>(); }

}  // namespace catdog::detail
