#include "layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

#include "kernels.h"

namespace catdog::detail {
namespace {

using jsonu::json;
constexpr int64_t kMaxDim = std::numeric_limits<int>::max();

// ---- config readers ------------------------------------------------------------------------------

Status ReadInt(const json& cfg, const char* key, const LayerRef& ref, int64_t def, int64_t* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsInt64(*v, out)) return Status::Error(ref.str() + ": '" + key + "' must be an integer, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

Status ReadPositiveInt(const json& cfg, const char* key, const LayerRef& ref, int* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  int64_t x;
  if (!v || !jsonu::AsInt64(*v, &x) || x < 1 || x > kMaxDim)
    return Status::Error(ref.str() + ": '" + key + "' must be a positive integer, got " + (v ? jsonu::Dump(*v, 80) : "nothing"));
  *out = static_cast<int>(x);
  return Status::Ok();
}

Status ReadDouble(const json& cfg, const char* key, const LayerRef& ref, double def, double* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsDouble(*v, out) || !std::isfinite(*out))
    return Status::Error(ref.str() + ": '" + key + "' must be a finite number, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

Status ReadBool(const json& cfg, const char* key, const LayerRef& ref, bool def, bool* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsBool(*v, out)) return Status::Error(ref.str() + ": '" + key + "' must be true or false, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

// An int or a list of two ints (kernel_size, strides, pool_size...). Absent/null -> def.
Status ReadPair(const json& cfg, const char* key, const LayerRef& ref, int def_a, int def_b, int* a, int* b) {
  const json* v = jsonu::FindNonNull(cfg, key);
  *a = def_a;
  *b = def_b;
  if (!v) {
    if (def_a <= 0) return Status::Error(ref.str() + ": missing '" + key + "'");
    return Status::Ok();
  }
  int64_t x, y;
  if (jsonu::AsInt64(*v, &x)) {
    y = x;
  } else if (v->is_array() && v->size() == 2 && jsonu::AsInt64((*v)[0], &x) && jsonu::AsInt64((*v)[1], &y)) {
  } else {
    return Status::Error(ref.str() + ": '" + key + "' must be an integer or two integers, got " + jsonu::Dump(*v, 80));
  }
  if (x < 1 || y < 1 || x > kMaxDim || y > kMaxDim)
    return Status::Error(ref.str() + ": '" + key + "' must be positive, got " + jsonu::Dump(*v, 80));
  *a = static_cast<int>(x);
  *b = static_cast<int>(y);
  return Status::Ok();
}

Status ReadPadding(const json& cfg, const LayerRef& ref, bool* same) {
  std::string p = "valid";
  if (const json* v = jsonu::FindNonNull(cfg, "padding")) {
    if (!jsonu::AsString(*v, &p)) return Status::Error(ref.str() + ": 'padding' must be a string, got " + jsonu::Dump(*v, 80));
  }
  if (p == "valid") {
    *same = false;
  } else if (p == "same") {
    *same = true;
  } else {
    return Status::Error(ref.str() + ": unsupported padding '" + p + "' (supported: valid, same)");
  }
  return Status::Ok();
}

Status CheckChannelsLast(const json& cfg, const LayerRef& ref) {
  std::string f = "channels_last";
  if (const json* v = jsonu::FindNonNull(cfg, "data_format")) {
    if (!jsonu::AsString(*v, &f)) return Status::Error(ref.str() + ": 'data_format' must be a string");
  }
  if (f != "channels_last")
    return Status::Error(ref.str() + ": unsupported data_format '" + f + "' (only channels_last / NHWC)");
  return Status::Ok();
}

Status CheckNoDilation(const json& cfg, const LayerRef& ref) {
  int a, b;
  Status s = ReadPair(cfg, "dilation_rate", ref, 1, 1, &a, &b);
  if (!s) return s;
  if (a != 1 || b != 1)
    return Status::Error(ref.str() + ": dilation_rate " + std::to_string(a) + "x" + std::to_string(b) + " is not supported (only 1)");
  return Status::Ok();
}

Status ReadActivation(const json& cfg, const LayerRef& ref, Act* act) {
  const json* v = jsonu::FindNonNull(cfg, "activation");
  if (!v) {
    *act = Act::kLinear;
    return Status::Ok();
  }
  return ParseActivation(*v, ref, act);
}

Status ExpectRank(const Layer& l, size_t rank) {
  if (l.in_shapes.size() != 1)
    return Status::Error(l.ref.str() + ": expects 1 input, got " + std::to_string(l.in_shapes.size()));
  if (l.in_shapes[0].size() != rank)
    return Status::Error(l.ref.str() + ": expects an input of rank " + std::to_string(rank) + " (without batch), got " +
                         ShapeStr(l.in_shapes[0]));
  return Status::Ok();
}

// Output size and padding of a conv/pool window along one axis, as TensorFlow computes them.
Status WindowOut(const LayerRef& ref, const char* axis, int64_t in, int k, int stride, bool same, int* out,
                 int* pad_before, int* pad_after) {
  int64_t o;
  if (same) {
    o = (in + stride - 1) / stride;
  } else {
    if (in < k)
      return Status::Error(ref.str() + ": window " + std::to_string(k) + " is larger than the input " + axis + " " +
                           std::to_string(in) + " with 'valid' padding");
    o = (in - k) / stride + 1;
  }
  if (o < 1 || o > kMaxDim) return Status::Error(ref.str() + ": output " + axis + " " + std::to_string(o) + " is out of range");
  int64_t total = same ? std::max<int64_t>((o - 1) * stride + k - in, 0) : 0;
  *out = static_cast<int>(o);
  *pad_before = static_cast<int>(total / 2);
  *pad_after = static_cast<int>(total - total / 2);
  return Status::Ok();
}

Status CheckDims(const LayerRef& ref, const Shape& s) {
  for (int64_t d : s)
    if (d < 1 || d > kMaxDim) return Status::Error(ref.str() + ": dimension " + std::to_string(d) + " in shape " + ShapeStr(s) + " is out of range");
  return Status::Ok();
}

void ClampFor(Act act, float* lo, float* hi, bool* is_clamp) {
  *lo = -kernels::kInf;
  *hi = kernels::kInf;
  *is_clamp = true;
  switch (act) {
    case Act::kLinear: break;
    case Act::kRelu: *lo = 0.f; break;
    case Act::kRelu6: *lo = 0.f; *hi = 6.f; break;
    default: *is_clamp = false;
  }
}

// Reference pooling, NHWC. Average counts only cells inside the input (TensorFlow 'same').
void Pool2D(bool is_max, int batch, int H, int W, int C, int ph, int pw, int sh, int sw, int pt, int pl, int OH,
            int OW, const float* in, float* out) {
  for (int b = 0; b < batch; ++b) {
    const float* src = in + static_cast<size_t>(b) * H * W * C;
    float* dst = out + static_cast<size_t>(b) * OH * OW * C;
    for (int oy = 0; oy < OH; ++oy) {
      int y0 = std::max(oy * sh - pt, 0), y1 = std::min(oy * sh - pt + ph, H);
      for (int ox = 0; ox < OW; ++ox) {
        int x0 = std::max(ox * sw - pl, 0), x1 = std::min(ox * sw - pl + pw, W);
        float* o = dst + (static_cast<size_t>(oy) * OW + ox) * C;
        int count = (y1 - y0) * (x1 - x0);
        for (int c = 0; c < C; ++c) {
          float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.f;
          for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) {
              float v = src[(static_cast<size_t>(y) * W + x) * C + c];
              acc = is_max ? std::max(acc, v) : acc + v;
            }
          o[c] = is_max ? acc : (count > 0 ? acc / static_cast<float>(count) : 0.f);
        }
      }
    }
  }
}

// ---- layers without computation --------------------------------------------------------------

// InputLayer, Dropout-likes, Flatten, Reshape: the output is the input's data.
class AliasLayer : public Layer {
 public:
  enum Kind { kInput, kIdentity, kFlatten, kReshape };
  explicit AliasLayer(Kind k) : kind_(k) {}
  Status Configure(const json& cfg) override {
    if (kind_ == kFlatten) {
      // Keras Flatten has data_format; channels_first would reorder.
      return CheckChannelsLast(cfg, ref);
    }
    if (kind_ == kReshape) {
      const json* t = jsonu::FindNonNull(cfg, "target_shape");
      if (!t || !t->is_array()) return Status::Error(ref.str() + ": missing 'target_shape'");
      for (const json& d : *t) {
        int64_t v;
        if (!jsonu::AsInt64(d, &v) || (v < 1 && v != -1))
          return Status::Error(ref.str() + ": bad target_shape " + jsonu::Dump(*t, 80));
        target_.push_back(v);
      }
    }
    return Status::Ok();
  }
  Status InferShape() override {
    if (kind_ == kInput) return Status::Ok();  // set by the graph
    if (in_shapes.size() != 1) return Status::Error(ref.str() + ": expects 1 input, got " + std::to_string(in_shapes.size()));
    int64_t n;
    if (!NumElements(in_shapes[0], &n)) return Status::Error(ref.str() + ": input shape overflows");
    if (kind_ == kIdentity) {
      out_shape = in_shapes[0];
    } else if (kind_ == kFlatten) {
      out_shape = {n};
    } else {
      int64_t known = 1;
      int unknown = -1;
      for (size_t i = 0; i < target_.size(); ++i) {
        if (target_[i] == -1) {
          if (unknown >= 0) return Status::Error(ref.str() + ": target_shape has more than one -1");
          unknown = static_cast<int>(i);
        } else if (__builtin_mul_overflow(known, target_[i], &known)) {
          return Status::Error(ref.str() + ": target_shape overflows");
        }
      }
      out_shape = target_;
      if (unknown >= 0) {
        if (known == 0 || n % known != 0)
          return Status::Error(ref.str() + ": cannot reshape " + ShapeStr(in_shapes[0]) + " to target_shape " + ShapeStr(target_));
        out_shape[static_cast<size_t>(unknown)] = n / known;
      } else if (known != n) {
        return Status::Error(ref.str() + ": cannot reshape " + ShapeStr(in_shapes[0]) + " (" + std::to_string(n) +
                             " values) to target_shape " + ShapeStr(target_));
      }
    }
    return Status::Ok();
  }
  bool IsAlias() const override { return true; }
  void Run(int, const std::vector<const float*>&, float*) override {}

 private:
  Kind kind_;
  Shape target_;
};

// ---- Conv2D ------------------------------------------------------------------------------------

std::unique_ptr<kernels::Op> MakeDenseOp(Backend b, const kernels::DenseDesc& d, const float* w, const float* bias, int threads) {
  if (b == Backend::kSimd) return kernels::MakeDenseSimd(d, w, bias, threads);
  if (b == Backend::kXnnpack) return kernels::MakeDenseXnnpack(d, w, bias, threads);
  return nullptr;
}

// An inference BatchNormalization, y = (x - mean) * mul + beta with mul = gamma / sqrt(var + eps)
// (as TF.js computes it). When the graph folds it into the layer that feeds it (FuseBatchNorm
// below), the BN layer becomes an alias and that layer applies it: through its weights and bias
// when its activation is linear (exact algebra, done once at load), otherwise after its clamp
// (kernels::ChannelAffine: in the fast op's epilogue, or a pass of its own where the backend has
// no such epilogue). BatchNormLayer binds before its producer (model.cpp binds aliases first).
struct BnFold {
  std::vector<float> mean, mul, beta;
  kernels::ChannelAffine Affine() const { return {mean.data(), mul.data(), beta.data()}; }
};

// Folds y = (x - mean) * mul + beta into the kernel (output channel fastest, `oc` channels) and
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
    if (fuse_pool) Pool2D(true, batch, d.out_h, d.out_w, d.out_c, 2, 2, 2, 2, 0, 0, d.out_h / 2, d.out_w / 2, conv_out, out);
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

// ---- Dense (on the last axis of any rank) ------------------------------------------------------

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

// ---- depthwise / separable / transposed convolutions ----------------------------------------------

// DepthwiseConv2D, and SeparableConv2D = depthwise (no bias, linear) then a 1x1 conv with the
// layer's bias and activation (ConvStage, so the pointwise half takes the fused pool and the
// folded BatchNorm like a Conv2D).
class DepthwiseLayer : public Layer {
 public:
  explicit DepthwiseLayer(bool separable) : separable_(separable) {}
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

// ---- pooling, padding --------------------------------------------------------------------------

class PoolLayer : public Layer {
 public:
  explicit PoolLayer(bool is_max) : is_max_(is_max) {}
  Status Configure(const json& cfg) override {
    Status s;
    if (!(s = ReadPair(cfg, "pool_size", ref, 2, 2, &ph_, &pw_))) return s;
    if (!(s = ReadPair(cfg, "strides", ref, ph_, pw_, &sh_, &sw_))) return s;
    if (!(s = ReadPadding(cfg, ref, &same_))) return s;
    return CheckChannelsLast(cfg, ref);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    const Shape& in = in_shapes[0];
    if (!(s = CheckDims(ref, in))) return s;
    H_ = static_cast<int>(in[0]);
    W_ = static_cast<int>(in[1]);
    C_ = static_cast<int>(in[2]);
    int pb, pr;
    if (!(s = WindowOut(ref, "height", in[0], ph_, sh_, same_, &OH_, &pt_, &pb))) return s;
    if (!(s = WindowOut(ref, "width", in[1], pw_, sw_, same_, &OW_, &pl_, &pr))) return s;
    out_shape = {OH_, OW_, C_};
    return Status::Ok();
  }
  bool IsAlias() const override { return fused_; }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    Pool2D(is_max_, batch, H_, W_, C_, ph_, pw_, sh_, sw_, pt_, pl_, OH_, OW_, ins[0], out);
  }
  std::string KernelName() const override { return fused_ ? "fused into the conv before" : ""; }

  bool is_max_;
  bool fused_ = false;
  bool same_ = false;
  int ph_ = 2, pw_ = 2, sh_ = 2, sw_ = 2;

 private:
  int H_ = 0, W_ = 0, C_ = 0, OH_ = 0, OW_ = 0, pt_ = 0, pl_ = 0;
};

class GlobalPoolLayer : public Layer {
 public:
  explicit GlobalPoolLayer(bool is_max) : is_max_(is_max) {}
  Status Configure(const json& cfg) override {
    Status s = CheckChannelsLast(cfg, ref);
    if (!s) return s;
    return ReadBool(cfg, "keepdims", ref, false, &keepdims_);
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    if (!(s = CheckDims(ref, in_shapes[0]))) return s;
    hw_ = in_shapes[0][0] * in_shapes[0][1];
    C_ = in_shapes[0][2];
    out_shape = keepdims_ ? Shape{1, 1, C_} : Shape{C_};
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    for (int b = 0; b < batch; ++b) {
      const float* src = ins[0] + static_cast<size_t>(b * hw_ * C_);
      float* o = out + static_cast<size_t>(b) * C_;
      for (int64_t c = 0; c < C_; ++c) o[c] = is_max_ ? -std::numeric_limits<float>::infinity() : 0.f;
      for (int64_t p = 0; p < hw_; ++p)
        for (int64_t c = 0; c < C_; ++c) o[c] = is_max_ ? std::max(o[c], src[p * C_ + c]) : o[c] + src[p * C_ + c];
      if (!is_max_)
        for (int64_t c = 0; c < C_; ++c) o[c] /= static_cast<float>(hw_);
    }
  }

 private:
  bool is_max_, keepdims_ = false;
  int64_t hw_ = 0, C_ = 0;
};

class ZeroPaddingLayer : public Layer {
 public:
  Status Configure(const json& cfg) override {
    Status s = CheckChannelsLast(cfg, ref);
    if (!s) return s;
    const json* p = jsonu::FindNonNull(cfg, "padding");
    int64_t v[4] = {1, 1, 1, 1};  // top, bottom, left, right
    bool ok = true;
    if (!p) {
    } else if (jsonu::AsInt64(*p, &v[0])) {
      v[1] = v[2] = v[3] = v[0];
    } else if (p->is_array() && p->size() == 2 && (*p)[0].is_number()) {
      ok = jsonu::AsInt64((*p)[0], &v[0]) && jsonu::AsInt64((*p)[1], &v[2]);
      v[1] = v[0];
      v[3] = v[2];
    } else if (p->is_array() && p->size() == 2 && (*p)[0].is_array() && (*p)[1].is_array() && (*p)[0].size() == 2 &&
               (*p)[1].size() == 2) {
      ok = jsonu::AsInt64((*p)[0][0], &v[0]) && jsonu::AsInt64((*p)[0][1], &v[1]) && jsonu::AsInt64((*p)[1][0], &v[2]) &&
           jsonu::AsInt64((*p)[1][1], &v[3]);
    } else {
      ok = false;
    }
    for (int64_t x : v) ok = ok && x >= 0 && x < (1 << 20);
    if (!ok) return Status::Error(ref.str() + ": bad padding " + (p ? jsonu::Dump(*p, 80) : ""));
    for (int i = 0; i < 4; ++i) pad_[i] = static_cast<int>(v[i]);
    return Status::Ok();
  }
  Status InferShape() override {
    Status s = ExpectRank(*this, 3);
    if (!s) return s;
    if (!(s = CheckDims(ref, in_shapes[0]))) return s;
    H_ = static_cast<int>(in_shapes[0][0]);
    W_ = static_cast<int>(in_shapes[0][1]);
    C_ = static_cast<int>(in_shapes[0][2]);
    out_shape = {int64_t(H_) + pad_[0] + pad_[1], int64_t(W_) + pad_[2] + pad_[3], C_};
    return CheckDims(ref, out_shape);
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int OH = static_cast<int>(out_shape[0]), OW = static_cast<int>(out_shape[1]);
    for (int b = 0; b < batch; ++b) {
      float* dst = out + static_cast<size_t>(b) * OH * OW * C_;
      const float* src = ins[0] + static_cast<size_t>(b) * H_ * W_ * C_;
      std::fill(dst, dst + static_cast<size_t>(OH) * OW * C_, 0.f);
      for (int y = 0; y < H_; ++y)
        std::memcpy(dst + ((static_cast<size_t>(y) + pad_[0]) * OW + pad_[2]) * C_, src + static_cast<size_t>(y) * W_ * C_,
                    sizeof(float) * W_ * C_);
    }
  }

 private:
  int pad_[4] = {1, 1, 1, 1};
  int H_ = 0, W_ = 0, C_ = 0;
};

// ---- normalization and activations ----------------------------------------------------------------

class BatchNormLayer : public Layer {
 public:
  Status Configure(const json& cfg) override {
    Status s;
    const json* a = jsonu::FindNonNull(cfg, "axis");
    axis_ = -1;
    if (a) {
      const json* v = a;
      if (a->is_array()) {
        if (a->size() != 1) return Status::Error(ref.str() + ": axis " + jsonu::Dump(*a, 40) + " is not supported (only the last axis)");
        v = &(*a)[0];
      }
      if (!jsonu::AsInt64(*v, &axis_)) return Status::Error(ref.str() + ": bad axis " + jsonu::Dump(*a, 40));
    }
    if (!(s = ReadDouble(cfg, "epsilon", ref, 1e-3, &eps_))) return s;
    if (eps_ < 0) return Status::Error(ref.str() + ": negative epsilon");
    if (!(s = ReadBool(cfg, "center", ref, true, &center_))) return s;
    return ReadBool(cfg, "scale", ref, true, &scale_);
  }
  Status InferShape() override {
    if (in_shapes.size() != 1 || in_shapes[0].empty()) return Status::Error(ref.str() + ": expects one input of rank >= 1");
    int64_t rank_with_batch = static_cast<int64_t>(in_shapes[0].size()) + 1;
    if (axis_ != -1 && axis_ != rank_with_batch - 1)
      return Status::Error(ref.str() + ": axis " + std::to_string(axis_) + " is not supported for input " + ShapeStr(in_shapes[0]) +
                           " (only the last axis)");
    Status s = CheckDims(ref, in_shapes[0]);
    if (!s) return s;
    C_ = in_shapes[0].back();
    NumElements(in_shapes[0], &n_);
    out_shape = in_shapes[0];
    return Status::Ok();
  }
  std::vector<WeightSpec> Weights() const override {
    std::vector<WeightSpec> w;
    if (scale_) w.push_back({"gamma", {C_}});
    if (center_) w.push_back({"beta", {C_}});
    w.push_back({"moving_mean", {C_}});
    w.push_back({"moving_variance", {C_}});
    return w;
  }
  Status Bind(std::vector<std::vector<float>> w, const BindOptions&) override {
    size_t i = 0;
    std::vector<float> gamma = scale_ ? std::move(w[i++]) : std::vector<float>(static_cast<size_t>(C_), 1.f);
    std::vector<float> beta = center_ ? std::move(w[i++]) : std::vector<float>(static_cast<size_t>(C_), 0.f);
    const std::vector<float>& mean = w[i];
    const std::vector<float>& var = w[i + 1];
    f_.mul.resize(static_cast<size_t>(C_));
    f_.mean.assign(mean.begin(), mean.end());
    f_.beta = std::move(beta);
    for (size_t c = 0; c < f_.mul.size(); ++c) {
      if (var[c] + eps_ <= 0) return Status::Error(ref.str() + ": moving_variance[" + std::to_string(c) + "] + epsilon is not positive");
      // As TF.js batchNorm: (x - mean) * (gamma / sqrt(var + eps)) + beta.
      f_.mul[c] = static_cast<float>(gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps_));
    }
    return Status::Ok();
  }
  bool IsAlias() const override { return fused_; }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t total = n_ * batch;
    for (int64_t i = 0; i < total; i += C_)
      for (int64_t c = 0; c < C_; ++c) out[i + c] = (ins[0][i + c] - f_.mean[c]) * f_.mul[c] + f_.beta[c];
  }
  std::string KernelName() const override { return fused_ ? "folded into the layer before" : ""; }

  BnFold f_;
  bool fused_ = false;  // folded into the layer before (FuseBatchNorm): no buffer, no work

 private:
  int64_t axis_ = -1, C_ = 0, n_ = 0;
  double eps_ = 1e-3;
  bool center_ = true, scale_ = true;
};

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

// ---- merging -------------------------------------------------------------------------------------

class MergeLayer : public Layer {
 public:
  enum Kind { kAdd, kSubtract, kMultiply, kAverage, kMaximum, kMinimum };
  explicit MergeLayer(Kind k) : kind_(k) {}
  Status Configure(const json&) override { return Status::Ok(); }
  Status InferShape() override {
    if (in_shapes.size() < 2 || (kind_ == kSubtract && in_shapes.size() != 2))
      return Status::Error(ref.str() + ": expects " + (kind_ == kSubtract ? "2" : "at least 2") + " inputs, got " +
                           std::to_string(in_shapes.size()));
    for (size_t i = 1; i < in_shapes.size(); ++i)
      if (in_shapes[i] != in_shapes[0])
        return Status::Error(ref.str() + ": input shapes differ: " + ShapeStr(in_shapes[0]) + " vs " + ShapeStr(in_shapes[i]) +
                             " (broadcasting is not supported)");
    out_shape = in_shapes[0];
    if (!NumElements(out_shape, &n_)) return Status::Error(ref.str() + ": shape overflows");
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t total = n_ * batch;
    std::memcpy(out, ins[0], sizeof(float) * static_cast<size_t>(total));
    for (size_t k = 1; k < ins.size(); ++k) {
      const float* in = ins[k];
      for (int64_t i = 0; i < total; ++i) {
        switch (kind_) {
          case kAdd:
          case kAverage: out[i] += in[i]; break;
          case kSubtract: out[i] -= in[i]; break;
          case kMultiply: out[i] *= in[i]; break;
          case kMaximum: out[i] = std::max(out[i], in[i]); break;
          case kMinimum: out[i] = std::min(out[i], in[i]); break;
        }
      }
    }
    if (kind_ == kAverage) {
      const float inv = 1.f / static_cast<float>(ins.size());
      for (int64_t i = 0; i < total; ++i) out[i] *= inv;
    }
  }

 private:
  Kind kind_;
  int64_t n_ = 0;
};

class ConcatenateLayer : public Layer {
 public:
  Status Configure(const json& cfg) override { return ReadInt(cfg, "axis", ref, -1, &axis_); }
  Status InferShape() override {
    if (in_shapes.size() < 2) return Status::Error(ref.str() + ": expects at least 2 inputs, got " + std::to_string(in_shapes.size()));
    const int64_t rank = static_cast<int64_t>(in_shapes[0].size());
    // Keras axes count the batch dimension: axis a (>0) is dim a-1 here; negative counts from the end.
    int64_t ax = axis_ < 0 ? rank + axis_ : axis_ - 1;
    if (rank == 0 || ax < 0 || ax >= rank)
      return Status::Error(ref.str() + ": axis " + std::to_string(axis_) + " is out of range for inputs of rank " + std::to_string(rank));
    out_shape = in_shapes[0];
    out_shape[static_cast<size_t>(ax)] = 0;
    for (const Shape& s : in_shapes) {
      bool ok = s.size() == in_shapes[0].size();
      for (size_t d = 0; ok && d < s.size(); ++d) ok = d == static_cast<size_t>(ax) || s[d] == in_shapes[0][d];
      if (!ok) return Status::Error(ref.str() + ": cannot concatenate " + ShapeStr(in_shapes[0]) + " and " + ShapeStr(s) + " on axis " + std::to_string(axis_));
      out_shape[static_cast<size_t>(ax)] += s[static_cast<size_t>(ax)];
    }
    Status st = CheckDims(ref, out_shape);
    if (!st) return st;
    outer_ = 1;
    for (int64_t d = 0; d < ax; ++d) outer_ *= out_shape[static_cast<size_t>(d)];
    inner_.clear();
    for (const Shape& s : in_shapes) {
      int64_t n = 1;
      for (size_t d = static_cast<size_t>(ax); d < s.size(); ++d) n *= s[d];
      inner_.push_back(n);
    }
    return Status::Ok();
  }
  void Run(int batch, const std::vector<const float*>& ins, float* out) override {
    const int64_t rows = outer_ * batch;
    for (int64_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < ins.size(); ++k) {
        std::memcpy(out, ins[k] + r * inner_[k], sizeof(float) * static_cast<size_t>(inner_[k]));
        out += inner_[k];
      }
  }

 private:
  int64_t axis_ = -1, outer_ = 1;
  std::vector<int64_t> inner_;
};

std::string ToSnake(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') {
      if (!r.empty()) r += '_';
      r += static_cast<char>(c - 'A' + 'a');
    } else {
      r += c;
    }
  }
  return r;
}

float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

}  // namespace

// ---- shared helpers ------------------------------------------------------------------------------

std::string ShapeStr(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

bool NumElements(const Shape& s, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

Status ParseActivation(const json& j, const LayerRef& where, Act* out) {
  std::string name;
  if (j.is_string()) {
    name = j.get_ref<const std::string&>();
  } else if (j.is_object()) {
    // Keras 3: {"module": "keras.activations", "class_name": "function", "config": "relu", ...};
    // TF.js deserialization form: {"class_name": "relu", "config": {}}.
    const json* cfg = jsonu::Find(j, "config");
    const json* cls = jsonu::Find(j, "class_name");
    if (!(cfg && jsonu::AsString(*cfg, &name)) && !(cls && jsonu::AsString(*cls, &name)))
      return Status::Error(where.str() + ": cannot read activation " + jsonu::Dump(j, 120));
  } else {
    return Status::Error(where.str() + ": bad activation " + jsonu::Dump(j, 120));
  }
  static const std::map<std::string, Act> kActs = {
      {"linear", Act::kLinear}, {"relu", Act::kRelu}, {"relu6", Act::kRelu6}, {"sigmoid", Act::kSigmoid},
      {"hard_sigmoid", Act::kHardSigmoid}, {"tanh", Act::kTanh}, {"softmax", Act::kSoftmax}, {"elu", Act::kElu},
      {"selu", Act::kSelu}, {"swish", Act::kSwish}, {"silu", Act::kSwish}, {"softplus", Act::kSoftplus},
      {"softsign", Act::kSoftsign}, {"gelu", Act::kGelu}, {"gelu_new", Act::kGeluNew}, {"mish", Act::kMish},
  };
  auto it = kActs.find(ToSnake(name));
  if (it == kActs.end())
    return Status::Error(where.str() + ": unsupported activation '" + name +
                         "' (supported: linear, relu, relu6, sigmoid, hard_sigmoid, tanh, softmax, elu, selu, swish/silu, "
                         "softplus, softsign, gelu, gelu_new, mish)");
  *out = it->second;
  return Status::Ok();
}

void ApplyActivation(Act act, float* x, int64_t rows, int64_t channels) {
  const int64_t n = rows * channels;
  switch (act) {
    case Act::kLinear: break;
    case Act::kRelu: for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.f); break;
    case Act::kRelu6: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], 0.f), 6.f); break;
    case Act::kSigmoid: for (int64_t i = 0; i < n; ++i) x[i] = Sigmoid(x[i]); break;
    case Act::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(0.2f * x[i] + 0.5f, 0.f), 1.f);
      break;
    case Act::kTanh: for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]); break;
    case Act::kElu: for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : std::expm1(x[i]); break;
    case Act::kSelu: {
      const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? scale * x[i] : scale * alpha * std::expm1(x[i]);
      break;
    }
    case Act::kSwish: for (int64_t i = 0; i < n; ++i) x[i] = x[i] * Sigmoid(x[i]); break;
    case Act::kSoftplus:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 20.f ? x[i] : std::log1p(std::exp(x[i]));
      break;
    case Act::kSoftsign: for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::fabs(x[i])); break;
    case Act::kGelu:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] / std::sqrt(2.f)));
      break;
    case Act::kGeluNew: {
      const float k = std::sqrt(2.f / 3.14159265358979f);
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::tanh(k * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
      break;
    }
    case Act::kMish:
      for (int64_t i = 0; i < n; ++i) {
        float sp = x[i] > 20.f ? x[i] : std::log1p(std::exp(x[i]));
        x[i] = x[i] * std::tanh(sp);
      }
      break;
    case Act::kSoftmax:
      for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * channels;
        float mx = row[0];
        for (int64_t c = 1; c < channels; ++c) mx = std::max(mx, row[c]);
        float sum = 0.f;
        for (int64_t c = 0; c < channels; ++c) {
          row[c] = std::exp(row[c] - mx);
          sum += row[c];
        }
        const float inv = 1.f / sum;
        for (int64_t c = 0; c < channels; ++c) row[c] *= inv;
      }
      break;
  }
}

std::unique_ptr<Layer> CreateLayer(const std::string& cls) {
  using F = std::function<std::unique_ptr<Layer>()>;
  static const std::map<std::string, F> kMake = {
      {"InputLayer", [] { return std::make_unique<AliasLayer>(AliasLayer::kInput); }},
      {"Dropout", [] { return std::make_unique<AliasLayer>(AliasLayer::kIdentity); }},
      {"SpatialDropout2D", [] { return std::make_unique<AliasLayer>(AliasLayer::kIdentity); }},
      {"GaussianNoise", [] { return std::make_unique<AliasLayer>(AliasLayer::kIdentity); }},
      {"GaussianDropout", [] { return std::make_unique<AliasLayer>(AliasLayer::kIdentity); }},
      {"AlphaDropout", [] { return std::make_unique<AliasLayer>(AliasLayer::kIdentity); }},
      {"Flatten", [] { return std::make_unique<AliasLayer>(AliasLayer::kFlatten); }},
      {"Reshape", [] { return std::make_unique<AliasLayer>(AliasLayer::kReshape); }},
      {"Conv2D", [] { return std::make_unique<Conv2DLayer>(); }},
      {"DepthwiseConv2D", [] { return std::make_unique<DepthwiseLayer>(false); }},
      {"SeparableConv2D", [] { return std::make_unique<DepthwiseLayer>(true); }},
      {"Conv2DTranspose", [] { return std::make_unique<Conv2DTransposeLayer>(); }},
      {"Dense", [] { return std::make_unique<DenseLayer>(); }},
      {"MaxPooling2D", [] { return std::make_unique<PoolLayer>(true); }},
      {"AveragePooling2D", [] { return std::make_unique<PoolLayer>(false); }},
      {"GlobalAveragePooling2D", [] { return std::make_unique<GlobalPoolLayer>(false); }},
      {"GlobalMaxPooling2D", [] { return std::make_unique<GlobalPoolLayer>(true); }},
      {"ZeroPadding2D", [] { return std::make_unique<ZeroPaddingLayer>(); }},
      {"BatchNormalization", [] { return std::make_unique<BatchNormLayer>(); }},
      {"Activation", [] { return std::make_unique<ActivationLayer>(ActivationLayer::kActivation); }},
      {"ReLU", [] { return std::make_unique<ActivationLayer>(ActivationLayer::kReLU); }},
      {"LeakyReLU", [] { return std::make_unique<ActivationLayer>(ActivationLayer::kLeakyReLU); }},
      {"ELU", [] { return std::make_unique<ActivationLayer>(ActivationLayer::kELU); }},
      {"Softmax", [] { return std::make_unique<ActivationLayer>(ActivationLayer::kSoftmax); }},
      {"Add", [] { return std::make_unique<MergeLayer>(MergeLayer::kAdd); }},
      {"Subtract", [] { return std::make_unique<MergeLayer>(MergeLayer::kSubtract); }},
      {"Multiply", [] { return std::make_unique<MergeLayer>(MergeLayer::kMultiply); }},
      {"Average", [] { return std::make_unique<MergeLayer>(MergeLayer::kAverage); }},
      {"Maximum", [] { return std::make_unique<MergeLayer>(MergeLayer::kMaximum); }},
      {"Minimum", [] { return std::make_unique<MergeLayer>(MergeLayer::kMinimum); }},
      {"Concatenate", [] { return std::make_unique<ConcatenateLayer>(); }},
  };
  auto it = kMake.find(cls);
  if (it == kMake.end()) return nullptr;
  return it->second();
}

namespace {

bool IsClampAct(Act a) { return a == Act::kLinear || a == Act::kRelu || a == Act::kRelu6; }

// The ConvStage of a Conv2D or of a SeparableConv2D's pointwise half; nullptr for other layers.
ConvStage* StageOf(Layer* l) {
  if (auto* c = dynamic_cast<Conv2DLayer*>(l)) return &c->conv_;
  if (auto* d = dynamic_cast<DepthwiseLayer*>(l)) return d->separable_ ? &d->pw_ : nullptr;
  return nullptr;
}

}  // namespace

bool CanFuseMaxPool(const Layer& conv, const Layer& pool) {
  const ConvStage* c = StageOf(const_cast<Layer*>(&conv));
  const auto* p = dynamic_cast<const PoolLayer*>(&pool);
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
  const auto* b = dynamic_cast<const BatchNormLayer*>(&bn);
  if (!b || b->fused_ || bn.in_shapes.size() != 1 || bn.in_shapes[0].size() != 3) return false;
  if (const auto* c = dynamic_cast<const Conv2DLayer*>(&producer))
    return !c->bn_ && !c->conv_.fuse_pool && IsClampAct(c->conv_.act);
  if (const auto* d = dynamic_cast<const DepthwiseLayer*>(&producer))
    return !d->bn_ && !d->pw_.fuse_pool && IsClampAct(d->act_);
  return false;
}

void FuseBatchNorm(Layer* producer, Layer* bn) {
  auto* b = static_cast<BatchNormLayer*>(bn);
  b->fused_ = true;
  if (auto* c = dynamic_cast<Conv2DLayer*>(producer)) c->bn_ = &b->f_;
  if (auto* d = dynamic_cast<DepthwiseLayer*>(producer)) d->bn_ = &b->f_;
}

}  // namespace catdog::detail
