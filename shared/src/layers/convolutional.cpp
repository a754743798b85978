// Keras convolutional layers: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, and the
// graph's fusion hooks that let a conv absorb the BatchNormalization and the 2x2 max-pool after it.
#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "layers/common.h"
#include "layers/normalization.h"
#include "layers/pooling.h"
#include "layers/registry.h"

namespace catdog::detail {
namespace {

using jsonu::json;

// bias of a linear conv: w' = w * mul, b' = (b - mean) * mul + beta.
void FoldIntoWeights(const BnFold& bn, int oc, std::vector<float>* kernel, std::vector<float>* bias) {
  for (size_t i = 0; i < kernel->size(); ++i) (*kernel)[i] = static_cast<float>(double((*kernel)[i]) * bn.mul[i % oc]);
  bias->resize(static_cast<size_t>(oc), 0.0f);
  for (int c = 0; c < oc; ++c)
    (*bias)[c] = static_cast<float>((double((*bias)[c]) - bn.mean[c]) * bn.mul[c] + bn.beta[c]);
}

// The convolution both Conv2D and SeparableConv2D's pointwise half run: a fast op when the backend
// has one, with the fused 2x2 max-pool and the folded BatchNorm's affine where the op can take
// them, and the reference plus separate passes (activation, affine, pool) for the rest.
class ConvStage {
 public:
  kernels::ConvDesc d;     // without the pool
  bool fuse_pool = false;  // a following MaxPooling2D 2x2/2 valid was fused (graph.cpp)
  Act act = Act::kLinear;

  // `w` and `bias` (nullable) must outlive the stage (the reference reads them at run time).
  void Bind(const BindOptions& opt, const float* w, const float* bias, const BnFold* bn) {
    w_ = w;
    bias_ = bias;
    bool is_clamp;
    ClampFor(act, &d.clamp_min, &d.clamp_max, &is_clamp);
    post_act_ = !is_clamp;
    affine_ = bn ? bn->Affine() : kernels::ChannelAffine{};
    op_.reset();
    op_fused_ = op_post_ = false;
    const bool simd = opt.backend == Backend::kSimd, xnn = opt.backend == Backend::kXnnpack;
    if (fuse_pool && (simd || (xnn && !affine_.active()))) {  // XNNPACK would pool before the affine
      kernels::ConvDesc fd = d;
      fd.fuse_maxpool2 = true;
      op_ = simd ? kernels::MakeConvSimd(fd, w, bias, opt.threads, affine_) : kernels::MakeConvXnnpack(fd, w, bias, opt.threads);
      op_fused_ = op_ != nullptr;
    }
    if (!op_) op_ = simd ? kernels::MakeConvSimd(d, w, bias, opt.threads, affine_)
                    : xnn ? kernels::MakeConvXnnpack(d, w, bias, opt.threads) : nullptr;
    op_post_ = op_ && simd;
  }
  void Reserve(int batch) {
    if (fuse_pool && !op_fused_) scratch_.resize(static_cast<size_t>(batch) * d.out_h * d.out_w * d.out_c);
  }
  void Run(int batch, const float* in, float* out) {
    if (op_ && op_fused_) {
      op_->Run(batch, in, out);
      return;
    }
    float* conv_out = fuse_pool ? scratch_.data() : out;
    if (op_) {
      op_->Run(batch, in, conv_out);
    } else {
      kernels::Conv2DRef(d, batch, in, w_, bias_, conv_out);
    }
    const size_t rows = static_cast<size_t>(batch) * d.out_h * d.out_w;
    if (post_act_) ApplyActivation(act, conv_out, static_cast<int64_t>(rows), d.out_c);
    if (!op_post_) kernels::ChannelAffineRef(affine_, rows, d.out_c, conv_out);
    if (fuse_pool) {
      kernels::PoolDesc p;  // 2x2/2 valid max: the defaults
      p.in_h = d.out_h;
      p.in_w = d.out_w;
      p.channels = d.out_c;
      p.out_h = d.out_h / 2;
      p.out_w = d.out_w / 2;
      kernels::PoolRef(p, batch, conv_out, out);
    }
  }
  std::string Name(const char* ref_name) const {
    std::string k = op_ ? op_->name() : ref_name;
    if (affine_.active() && !op_post_) k += " + batchnorm_ref";
    if (fuse_pool) k += op_fused_ ? " (+maxpool fused)" : " + maxpool_ref";
    return k;
  }

 private:
  const float* w_ = nullptr;
  const float* bias_ = nullptr;
  bool post_act_ = false, op_fused_ = false, op_post_ = false;
  kernels::ChannelAffine affine_;
  std::unique_ptr<kernels::Op> op_;
  std::vector<float> scratch_;
};

class Conv2DLayer : public Layer {
 public:
  Conv2DLayer() { kind = Kind::kConv2D; }
  Status Configure(const json& cfg) override {
    Status s;
    if (!(s = ReadPositiveInt(cfg, "filters", ref, &filters_))) return s;
    if (!(s = ReadPair(cfg, "kernel_size", ref, 0, 0, &kh_, &kw_))) return s;
    if (!(s = ReadPair(cfg, "strides", ref, 1, 1, &sh_, &sw_))) return s;
    if (!(s = ReadPadding(cfg, ref, &same_))) return s;
    if (!(s = CheckChannelsLast(cfg, ref))) return s;
    if (!(s = CheckNoDilation(cfg, ref))) return s;
    int64_t groups;
    if (!(s = ReadInt(cfg, "groups", ref, 1, &groups))) return s;
    if (groups != 1) return Status::Error(ref.str() + ": groups=" + std::to_string(groups) + " is not supported (only 1)");
    if (!(s = ReadActivation(cfg, ref, &conv_.act))) return s;
    return ReadBool(cfg, "use_bias", ref, true, &use_bias_);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    const Shape& in = in_shapes[0];
    if (!(s = CheckDims(ref, in))) return s;
    kernels::ConvDesc& d = conv_.d;
    d.in_h = static_cast<int>(in[0]);
    d.in_w = static_cast<int>(in[1]);
    d.in_c = static_cast<int>(in[2]);
    d.out_c = filters_;
    d.kh = kh_;
    d.kw = kw_;
    d.stride_h = sh_;
    d.stride_w = sw_;
    if (!(s = WindowOut(ref, "height", in[0], kh_, sh_, same_, &d.out_h, &d.pad_top, &d.pad_bottom))) return s;
    if (!(s = WindowOut(ref, "width", in[1], kw_, sw_, same_, &d.out_w, &d.pad_left, &d.pad_right))) return s;
    out_shape = {d.out_h, d.out_w, filters_};
    return Status::Ok();
  }
  std::vector<WeightSpec> Weights() const override {
    std::vector<WeightSpec> w{{"kernel", {kh_, kw_, conv_.d.in_c, filters_}}};
    if (use_bias_) w.push_back({"bias", {filters_}});
    return w;
  }
  Status Bind(std::vector<std::vector<float>> w, const BindOptions& opt) override {
    kernel_ = std::move(w[0]);
    bias_.clear();
    if (use_bias_) bias_ = std::move(w[1]);
    const BnFold* post = bn_;
    if (bn_ && conv_.act == Act::kLinear) {
      FoldIntoWeights(*bn_, filters_, &kernel_, &bias_);
      post = nullptr;
    }
    conv_.Bind(opt, kernel_.data(), bias_.empty() ? nullptr : bias_.data(), post);
    return Status::Ok();
  }
  void Reserve(int batch) override { conv_.Reserve(batch); }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override { conv_.Run(batch, ins[0], out); }
  std::string KernelName() const override {
    std::string k = conv_.Name("conv2d_ref");
    if (bn_) k += " (+batchnorm folded)";
    return k;
  }

  ConvStage conv_;
  const BnFold* bn_ = nullptr;  // a following BatchNormalization folded in (FuseBatchNorm)

 private:
  int filters_ = 0, kh_ = 0, kw_ = 0, sh_ = 1, sw_ = 1;
  bool same_ = false, use_bias_ = true;
  std::vector<float> kernel_, bias_;
};

// ---- depthwise / separable / transposed convolutions ----------------------------------------------

// DepthwiseConv2D, and SeparableConv2D = depthwise (no bias, linear) then a 1x1 conv with the
// layer's bias and activation (ConvStage, so the pointwise half takes the fused pool and the
// folded BatchNorm like a Conv2D).
class DepthwiseLayer : public Layer {
 public:
  explicit DepthwiseLayer(bool separable) : separable_(separable) { kind = Kind::kDepthwise; }
  Status Configure(const json& cfg) override {
    Status s;
    if (separable_ && !(s = ReadPositiveInt(cfg, "filters", ref, &filters_))) return s;
    if (!(s = ReadPair(cfg, "kernel_size", ref, 0, 0, &dd_.kh, &dd_.kw))) return s;
    if (!(s = ReadPair(cfg, "strides", ref, 1, 1, &dd_.stride_h, &dd_.stride_w))) return s;
    if (!(s = ReadPadding(cfg, ref, &same_))) return s;
    if (!(s = CheckChannelsLast(cfg, ref))) return s;
    if (!(s = CheckNoDilation(cfg, ref))) return s;
    int64_t mult;
    if (!(s = ReadInt(cfg, "depth_multiplier", ref, 1, &mult))) return s;
    if (mult < 1 || mult > 65536) return Status::Error(ref.str() + ": bad depth_multiplier " + std::to_string(mult));
    dd_.mult = static_cast<int>(mult);
    if (!(s = ReadActivation(cfg, ref, &act_))) return s;
    return ReadBool(cfg, "use_bias", ref, true, &use_bias_);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    const Shape& in = in_shapes[0];
    if (!(s = CheckDims(ref, in))) return s;
    dd_.in_h = static_cast<int>(in[0]);
    dd_.in_w = static_cast<int>(in[1]);
    dd_.channels = static_cast<int>(in[2]);
    if (!(s = WindowOut(ref, "height", in[0], dd_.kh, dd_.stride_h, same_, &dd_.out_h, &dd_.pad_top, &dd_.pad_bottom))) return s;
    if (!(s = WindowOut(ref, "width", in[1], dd_.kw, dd_.stride_w, same_, &dd_.out_w, &dd_.pad_left, &dd_.pad_right))) return s;
    int64_t dc = static_cast<int64_t>(dd_.channels) * dd_.mult;
    if (dc > kMaxDim) return Status::Error(ref.str() + ": channels x depth_multiplier overflows");
    out_shape = {dd_.out_h, dd_.out_w, separable_ ? filters_ : dc};
    if (separable_) {
      kernels::ConvDesc& p = pw_.d;
      p.in_h = p.out_h = dd_.out_h;
      p.in_w = p.out_w = dd_.out_w;
      p.in_c = static_cast<int>(dc);
      p.out_c = filters_;
      p.kh = p.kw = 1;
      pw_.act = act_;
    }
    return Status::Ok();
  }
  std::vector<WeightSpec> Weights() const override {
    std::vector<WeightSpec> w{{"depthwise_kernel", {dd_.kh, dd_.kw, dd_.channels, dd_.mult}}};
    if (separable_) w.push_back({"pointwise_kernel", {1, 1, static_cast<int64_t>(dd_.channels) * dd_.mult, filters_}});
    if (use_bias_) w.push_back({"bias", {separable_ ? filters_ : static_cast<int64_t>(dd_.channels) * dd_.mult}});
    return w;
  }
  Status Bind(std::vector<std::vector<float>> w, const BindOptions& opt) override {
    dw_ = std::move(w[0]);
    size_t i = 1;
    if (separable_) pw_w_ = std::move(w[i++]);
    bias_.clear();
    if (use_bias_) bias_ = std::move(w[i]);
    const BnFold* post = bn_;
    const bool fold = bn_ && act_ == Act::kLinear;
    if (fold) post = nullptr;
    const bool simd = opt.backend == Backend::kSimd;
    dw_op_.reset();
    if (separable_) {
      if (fold) FoldIntoWeights(*bn_, filters_, &pw_w_, &bias_);
      kernels::DepthwiseDesc d = dd_;  // no bias, linear: the layer's bias and activation follow the 1x1
      if (simd) dw_op_ = kernels::MakeDepthwiseSimd(d, dw_.data(), nullptr, opt.threads);
      pw_.Bind(opt, pw_w_.data(), bias_.empty() ? nullptr : bias_.data(), post);
      return Status::Ok();
    }
    if (fold) FoldIntoWeights(*bn_, dd_.out_c(), &dw_, &bias_);
    bool is_clamp;
    ClampFor(act_, &dd_.clamp_min, &dd_.clamp_max, &is_clamp);
    post_act_ = !is_clamp;
    affine_ = post ? post->Affine() : kernels::ChannelAffine{};
    if (simd) dw_op_ = kernels::MakeDepthwiseSimd(dd_, dw_.data(), bias_.empty() ? nullptr : bias_.data(), opt.threads, affine_);
    return Status::Ok();
  }
  void Reserve(int batch) override {
    if (separable_) {
      dw_out_.resize(static_cast<size_t>(batch) * dd_.out_h * dd_.out_w * dd_.out_c());
      pw_.Reserve(batch);
    }
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    if (separable_) {
      RunDepthwise(batch, ins[0], nullptr, dw_out_.data());
      pw_.Run(batch, dw_out_.data(), out);
      return;
    }
    RunDepthwise(batch, ins[0], bias_.empty() ? nullptr : bias_.data(), out);
    const size_t rows = static_cast<size_t>(batch) * dd_.out_h * dd_.out_w;
    if (post_act_) ApplyActivation(act_, out, static_cast<int64_t>(rows), dd_.out_c());  // clamp-only fuses
    if (!dw_op_) kernels::ChannelAffineRef(affine_, rows, dd_.out_c(), out);  // the op applied it
  }
  std::string KernelName() const override {
    std::string k = dw_op_ ? dw_op_->name() : "depthwise_ref";
    if (separable_) k += " + " + pw_.Name("conv1x1_ref");
    if (!separable_ && !dw_op_ && affine_.active()) k += " + batchnorm_ref";
    if (bn_) k += " (+batchnorm folded)";
    return k;
  }

  bool separable_;
  ConvStage pw_;                // the pointwise half (separable only)
  const BnFold* bn_ = nullptr;  // a following BatchNormalization folded in (FuseBatchNorm)
  Act act_ = Act::kLinear;

 private:
  void RunDepthwise(int batch, const float* in, const float* bias, float* out) {
    if (dw_op_) {
      dw_op_->Run(batch, in, out);
    } else {
      kernels::DepthwiseRef(dd_, batch, in, dw_.data(), bias, out);
    }
  }

  int filters_ = 0;
  bool same_ = false, use_bias_ = true, post_act_ = false;
  kernels::DepthwiseDesc dd_;
  kernels::ChannelAffine affine_;  // non-separable: the folded BatchNorm after a clamp activation
  std::vector<float> dw_, pw_w_, bias_, dw_out_;
  std::unique_ptr<kernels::Op> dw_op_;
};

class Conv2DTransposeLayer : public Layer {
 public:
  Status Configure(const json& cfg) override {
    Status s;
    if (!(s = ReadPositiveInt(cfg, "filters", ref, &filters_))) return s;
    if (!(s = ReadPair(cfg, "kernel_size", ref, 0, 0, &kh_, &kw_))) return s;
    if (!(s = ReadPair(cfg, "strides", ref, 1, 1, &sh_, &sw_))) return s;
    if (!(s = ReadPadding(cfg, ref, &same_))) return s;
    if (!(s = CheckChannelsLast(cfg, ref))) return s;
    if (!(s = CheckNoDilation(cfg, ref))) return s;
    if (const json* op = jsonu::FindNonNull(cfg, "output_padding"))
      return Status::Error(ref.str() + ": output_padding " + jsonu::Dump(*op, 40) + " is not supported");
    if (!(s = ReadActivation(cfg, ref, &act_))) return s;
    return ReadBool(cfg, "use_bias", ref, true, &use_bias_);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    const Shape& in = in_shapes[0];
    if (!(s = CheckDims(ref, in))) return s;
    H_ = static_cast<int>(in[0]);
    W_ = static_cast<int>(in[1]);
    C_ = static_cast<int>(in[2]);
    // Keras deconv_output_length; padding as TF's conv2d_backprop_input for that output size.
    int64_t oh = same_ ? int64_t(H_) * sh_ : int64_t(H_) * sh_ + std::max(kh_ - sh_, 0);
    int64_t ow = same_ ? int64_t(W_) * sw_ : int64_t(W_) * sw_ + std::max(kw_ - sw_, 0);
    if (oh > kMaxDim || ow > kMaxDim) return Status::Error(ref.str() + ": output size overflows");
    OH_ = static_cast<int>(oh);
    OW_ = static_cast<int>(ow);
    pt_ = same_ ? static_cast<int>(std::max<int64_t>((int64_t(H_) - 1) * sh_ + kh_ - oh, 0) / 2) : 0;
    pl_ = same_ ? static_cast<int>(std::max<int64_t>((int64_t(W_) - 1) * sw_ + kw_ - ow, 0) / 2) : 0;
    out_shape = {OH_, OW_, filters_};
    return Status::Ok();
  }
  std::vector<WeightSpec> Weights() const override {
    std::vector<WeightSpec> w{{"kernel", {kh_, kw_, filters_, C_}}};  // note: [kh, kw, out, in]
    if (use_bias_) w.push_back({"bias", {filters_}});
    return w;
  }
  Status Bind(std::vector<std::vector<float>> w, const BindOptions&) override {
    kernel_ = std::move(w[0]);
    if (use_bias_) bias_ = std::move(w[1]);
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int O = filters_;
    for (int b = 0; b < batch; ++b) {
      const float* src = ins[0] + static_cast<size_t>(b) * H_ * W_ * C_;
      float* dst = out + static_cast<size_t>(b) * OH_ * OW_ * O;
      for (size_t p = 0; p < static_cast<size_t>(OH_) * OW_; ++p)
        for (int o = 0; o < O; ++o) dst[p * O + o] = use_bias_ ? bias_[o] : 0.f;
      // Scatter: input (iy,ix) contributes to output (iy*sh - pt + ky, ix*sw - pl + kx).
      for (int iy = 0; iy < H_; ++iy)
        for (int ix = 0; ix < W_; ++ix) {
          const float* px = src + (static_cast<size_t>(iy) * W_ + ix) * C_;
          for (int ky = 0; ky < kh_; ++ky) {
            int oy = iy * sh_ - pt_ + ky;
            if (oy < 0 || oy >= OH_) continue;
            for (int kx = 0; kx < kw_; ++kx) {
              int ox = ix * sw_ - pl_ + kx;
              if (ox < 0 || ox >= OW_) continue;
              float* po = dst + (static_cast<size_t>(oy) * OW_ + ox) * O;
              const float* k = kernel_.data() + (static_cast<size_t>(ky) * kw_ + kx) * O * C_;
              for (int o = 0; o < O; ++o) {
                float acc = 0.f;
                const float* ko = k + static_cast<size_t>(o) * C_;
                for (int c = 0; c < C_; ++c) acc += px[c] * ko[c];
                po[o] += acc;
              }
            }
          }
        }
    }
    if (act_ != Act::kLinear) ApplyActivation(act_, out, static_cast<int64_t>(batch) * OH_ * OW_, O);
  }

 private:
  int filters_ = 0, kh_ = 0, kw_ = 0, sh_ = 1, sw_ = 1;
  int H_ = 0, W_ = 0, C_ = 0, OH_ = 0, OW_ = 0, pt_ = 0, pl_ = 0;
  bool same_ = false, use_bias_ = true;
  Act act_ = Act::kLinear;
  std::vector<float> kernel_, bias_;
};

}  // namespace

std::unique_ptr<Layer> NewConv2D() { return std::make_unique<Conv2DLayer>(); }
std::unique_ptr<Layer> NewDepthwiseConv2D() { return std::make_unique<DepthwiseLayer>(false); }
std::unique_ptr<Layer> NewSeparableConv2D() { return std::make_unique<DepthwiseLayer>(true); }
std::unique_ptr<Layer> NewConv2DTranspose() { return std::make_unique<Conv2DTransposeLayer>(); }

// ---- fusion hooks (graph.cpp) ------------------------------------------------------------------

namespace {

bool IsClampAct(Act a) { return a == Act::kLinear || a == Act::kRelu || a == Act::kRelu6; }

// `l` as a T when its Layer::Kind is k (a dynamic_cast without RTTI).
template <class T>
T* As(Layer* l, Layer::Kind k) { return l->kind == k ? static_cast<T*>(l) : nullptr; }
template <class T>
const T* As(const Layer* l, Layer::Kind k) { return l->kind == k ? static_cast<const T*>(l) : nullptr; }

// The ConvStage of a Conv2D or of a SeparableConv2D's pointwise half; nullptr for other layers.
ConvStage* StageOf(Layer* l) {
  if (auto* c = As<Conv2DLayer>(l, Layer::Kind::kConv2D)) return &c->conv_;
  if (auto* d = As<DepthwiseLayer>(l, Layer::Kind::kDepthwise)) return d->separable_ ? &d->pw_ : nullptr;
  return nullptr;
}

}  // namespace

bool CanFuseMaxPool(const Layer& conv, const Layer& pool) {
  const ConvStage* c = StageOf(const_cast<Layer*>(&conv));
  const auto* p = As<PoolLayer>(&pool, Layer::Kind::kPool);
  if (!c || !p || !p->is_max_ || p->same_ || c->fuse_pool) return false;
  if (p->ph_ != 2 || p->pw_ != 2 || p->sh_ != 2 || p->sw_ != 2) return false;
  if (!IsClampAct(c->act)) return false;
  return c->d.out_h >= 2 && c->d.out_w >= 2;
}

void FuseMaxPool(Layer* conv, Layer* pool) {
  auto* p = static_cast<PoolLayer*>(pool);
  StageOf(conv)->fuse_pool = true;
  conv->out_shape = p->out_shape;
  p->fused_ = true;
}

bool CanFuseBatchNorm(const Layer& producer, const Layer& bn) {
  const auto* b = As<BatchNormLayer>(&bn, Layer::Kind::kBatchNorm);
  if (!b || b->fused_ || bn.in_shapes.size() != 1 || bn.in_shapes[0].size() != 3) return false;
  if (const auto* c = As<Conv2DLayer>(&producer, Layer::Kind::kConv2D))
    return !c->bn_ && !c->conv_.fuse_pool && IsClampAct(c->conv_.act);
  if (const auto* d = As<DepthwiseLayer>(&producer, Layer::Kind::kDepthwise))
    return !d->bn_ && !d->pw_.fuse_pool && IsClampAct(d->act_);
  return false;
}

void FuseBatchNorm(Layer* producer, Layer* bn) {
  auto* b = static_cast<BatchNormLayer*>(bn);
  b->fused_ = true;
  if (auto* c = As<Conv2DLayer>(producer, Layer::Kind::kConv2D)) c->bn_ = &b->f_;
  if (auto* d = As<DepthwiseLayer>(producer, Layer::Kind::kDepthwise)) d->bn_ = &b->f_;
}

}  // namespace catdog::detail
