#include "models.h"

#include "catdog/classify.h"

#include <map>

#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"

namespace catdog::train {

LayerSpec Conv(int filters, int kernel, Activation act, bool same, int stride, bool use_bias) {
  LayerSpec l;
  l.kind = LayerKind::kConv2D;
  l.units = filters;
  l.kernel = kernel;
  l.activation = act;
  l.same_padding = same;
  l.stride = stride;
  l.use_bias = use_bias;
  return l;
}
LayerSpec SepConv(int filters, int kernel, Activation act, bool same) {
  LayerSpec l = Conv(filters, kernel, act, same);
  l.kind = LayerKind::kSeparableConv2D;
  return l;
}
LayerSpec BatchNorm() {
  LayerSpec l;
  l.kind = LayerKind::kBatchNorm;
  return l;
}
LayerSpec MaxPool(int pool) {
  LayerSpec l;
  l.kind = LayerKind::kMaxPool2D;
  l.kernel = pool;
  l.stride = pool;
  return l;
}
LayerSpec GlobalAvgPool() {
  LayerSpec l;
  l.kind = LayerKind::kGlobalAvgPool2D;
  return l;
}
LayerSpec Dropout(float rate) {
  LayerSpec l;
  l.kind = LayerKind::kDropout;
  l.rate = rate;
  return l;
}
LayerSpec Flatten() {
  LayerSpec l;
  l.kind = LayerKind::kFlatten;
  return l;
}
LayerSpec Dense(int units, Activation act) {
  LayerSpec l;
  l.kind = LayerKind::kDense;
  l.units = units;
  l.activation = act;
  return l;
}

const std::vector<ArchSpec>& Architectures() {
  using A = Activation;
  // The tutorial's three models, layer for layer (input 100x100x1, 'valid' convolutions).
  static const std::vector<ArchSpec> archs = {
      {"dense", "tutorial: Flatten -> Dense 150 relu -> Dense 150 relu -> Dense 1 sigmoid",
       {Flatten(), Dense(150, A::kRelu), Dense(150, A::kRelu), Dense(1, A::kSigmoid)}},
      {"cnn", "tutorial: 3x (Conv 3x3 relu 32/64/128 + MaxPool 2) -> Flatten -> Dense 100 relu -> Dense 1 sigmoid",
       {Conv(32), MaxPool(), Conv(64), MaxPool(), Conv(128), MaxPool(), Flatten(), Dense(100, A::kRelu),
        Dense(1, A::kSigmoid)}},
      {"cnn-dropout",
       "tutorial: the cnn's convolutions -> Dropout 0.5 -> Flatten -> Dense 250 relu -> Dense 1 sigmoid",
       {Conv(32), MaxPool(), Conv(64), MaxPool(), Conv(128), MaxPool(), Dropout(0.5f), Flatten(),
        Dense(250, A::kRelu), Dense(1, A::kSigmoid)}},
      // Add new architectures here (BatchNorm, SeparableConv2D, GlobalAvgPool are supported by
      // training, checkpoints and export).
      // The seventh model: still 100x100 gray and trained from scratch, but built for the
      // browser's budget: one full 3x3 conv on the 1-channel input, then depthwise-separable convs
      // (pointwise 1x1 = GEMM, the kernels' best case), BatchNorm after each, global average
      // pooling instead of a big Flatten -> Dense. About 80 MFLOP per image (the tutorial CNN: 155).
      {"catnet",
       "seventh: Conv 32 + BN + pool -> SepConv 64 + BN + pool -> 2x SepConv 128 + BN -> pool -> 2x SepConv 256 + BN "
       "-> GlobalAvgPool -> Dropout 0.3 -> Dense 1 sigmoid",
       {Conv(32, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        SepConv(64), BatchNorm(), MaxPool(),
        SepConv(128), BatchNorm(), SepConv(128), BatchNorm(), MaxPool(),
        SepConv(256), BatchNorm(), SepConv(256), BatchNorm(),
        GlobalAvgPool(), Dropout(0.3f), Dense(1, A::kSigmoid)}},
      // A teacher for distillation (`train --teacher`): VGG-style pairs of full 3x3
      // convolutions with BatchNorm, 32-64-128-256 channels, ~0.5 GMAC per image (catnet's
      // ~40 MMAC x 12): too slow for the page's budget, strong enough to teach catnet.
      {"catnet-teacher",
       "teacher: 4 blocks of 2x (Conv 3x3 same + BN), 32/64/128/256, pool between -> GlobalAvgPool -> Dropout 0.3 "
       "-> Dense 1 sigmoid",
       {Conv(32, 3, A::kRelu, true), BatchNorm(), Conv(32, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        Conv(64, 3, A::kRelu, true), BatchNorm(), Conv(64, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        Conv(128, 3, A::kRelu, true), BatchNorm(), Conv(128, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        Conv(256, 3, A::kRelu, true), BatchNorm(), Conv(256, 3, A::kRelu, true), BatchNorm(),
        GlobalAvgPool(), Dropout(0.3f), Dense(1, A::kSigmoid)}},
      // catnet's budget (the page's ~3 ms) spent on full 3x3 convolutions, which the kernels
      // run several times faster per multiply-add than catnet's separable ones: a stride-2 'valid'
      // stem (100 -> 49) and the teacher's VGG-style pairs at 32/64/128, 256 separable at 6x6.
      // ~180 MFLOP per image (catnet: 80), measured at about catnet's time per frame in the page.
      {"catnet-s2",
       "s2: Conv 32 3x3 stride 2 + BN -> Conv 32 + BN + pool -> 2x (Conv 64 + BN) + pool -> 2x (Conv 128 + BN) + "
       "pool -> 2x (SepConv 256 + BN) -> GlobalAvgPool -> Dropout 0.3 -> Dense 1 sigmoid",
       {Conv(32, 3, A::kRelu, false, 2), BatchNorm(), Conv(32, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        Conv(64, 3, A::kRelu, true), BatchNorm(), Conv(64, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        Conv(128, 3, A::kRelu, true), BatchNorm(), Conv(128, 3, A::kRelu, true), BatchNorm(), MaxPool(),
        SepConv(256), BatchNorm(), SepConv(256), BatchNorm(),
        GlobalAvgPool(), Dropout(0.3f), Dense(1, A::kSigmoid)}},
  };
  return archs;
}

ArchSpec WithClasses(const ArchSpec& arch, int classes) {
  ArchSpec a = arch;
  if (!a.layers.empty() && a.layers.back().kind == LayerKind::kDense) {
    a.layers.back().units = classes <= 2 ? 1 : classes;
    a.layers.back().activation = classes <= 2 ? Activation::kSigmoid : Activation::kSoftmax;
    const std::string from = "Dense 1 sigmoid";
    if (classes > 2)
      if (size_t at = a.description.rfind(from); at != std::string::npos)
        a.description.replace(at, from.size(), "Dense " + std::to_string(classes) + " softmax");
  }
  return a;
}

int ArchClasses(const ArchSpec& arch) {
  if (arch.layers.empty()) return 2;
  const LayerSpec& last = arch.layers.back();
  return last.activation == Activation::kSoftmax ? last.units : 2;
}

const ArchSpec* FindArch(const std::string& name) {
  for (const ArchSpec& a : Architectures())
    if (a.name == name) return &a;
  return nullptr;
}

std::string ArchNames() {
  std::string s;
  for (const ArchSpec& a : Architectures()) s += (s.empty() ? "" : "|") + a.name;
  return s;
}

const char* ActivationName(Activation a) {
  switch (a) {
    case Activation::kRelu: return "relu";
    case Activation::kSigmoid: return "sigmoid";
    case Activation::kSoftmax: return "softmax";
    case Activation::kLinear: break;
  }
  return "linear";
}

const char* KerasClassName(LayerKind k) {
  switch (k) {
    case LayerKind::kConv2D: return "Conv2D";
    case LayerKind::kSeparableConv2D: return "SeparableConv2D";
    case LayerKind::kBatchNorm: return "BatchNormalization";
    case LayerKind::kMaxPool2D: return "MaxPooling2D";
    case LayerKind::kGlobalAvgPool2D: return "GlobalAveragePooling2D";
    case LayerKind::kDropout: return "Dropout";
    case LayerKind::kFlatten: return "Flatten";
    case LayerKind::kDense: return "Dense";
  }
  return "?";
}

namespace {

// Keras' automatic layer name prefix (snake case of the class name).
const char* KerasNamePrefix(LayerKind k) {
  switch (k) {
    case LayerKind::kConv2D: return "conv2d";
    case LayerKind::kSeparableConv2D: return "separable_conv2d";
    case LayerKind::kBatchNorm: return "batch_normalization";
    case LayerKind::kMaxPool2D: return "max_pooling2d";
    case LayerKind::kGlobalAvgPool2D: return "global_average_pooling2d";
    case LayerKind::kDropout: return "dropout";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kDense: return "dense";
  }
  return "layer";
}

int64_t ConvOut(int64_t in, int k, int s, bool same) {
  if (same) return (in + s - 1) / s;
  return in < k ? 0 : (in - k) / s + 1;
}

}  // namespace

Status ResolveArch(const ArchSpec& arch, int size, std::vector<ResolvedLayer>* out) {
  out->clear();
  const std::string where = "architecture '" + arch.name + "'";
  if (size < 1 || size > 4096) return Status::Error(where + ": bad input size " + std::to_string(size));
  if (arch.layers.empty()) return Status::Error(where + ": no layers");
  std::map<std::string, int> counters;
  std::vector<int64_t> shape = {size, size, 1};
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const LayerSpec& l = arch.layers[i];
    ResolvedLayer r;
    r.spec = l;
    std::string prefix = KerasNamePrefix(l.kind);
    int n = counters[prefix]++;
    r.name = n == 0 ? prefix : prefix + "_" + std::to_string(n);
    r.in_shape = shape;
    const std::string lw = where + ", layer " + std::to_string(i) + " (" + r.name + ")";
    const bool spatial = shape.size() == 3;
    switch (l.kind) {
      case LayerKind::kConv2D:
      case LayerKind::kSeparableConv2D: {
        if (!spatial) return Status::Error(lw + ": needs an HxWxC input, got a flat one");
        if (l.same_padding && (l.stride != 1 || l.kernel % 2 == 0))
          return Status::Error(lw + ": 'same' padding is supported for odd kernels at stride 1 only");
        if (l.units < 1 || l.kernel < 1 || l.stride < 1)
          return Status::Error(lw + ": bad filters/kernel/stride " + std::to_string(l.units) + "/" +
                               std::to_string(l.kernel) + "/" + std::to_string(l.stride));
        int64_t h = ConvOut(shape[0], l.kernel, l.stride, l.same_padding);
        int64_t w = ConvOut(shape[1], l.kernel, l.stride, l.same_padding);
        if (h < 1 || w < 1)
          return Status::Error(lw + ": kernel " + std::to_string(l.kernel) + " larger than its " +
                               std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + " input");
        shape = {h, w, l.units};
        break;
      }
      case LayerKind::kBatchNorm:
        break;
      case LayerKind::kMaxPool2D: {
        if (!spatial) return Status::Error(lw + ": needs an HxWxC input");
        if (l.kernel < 1) return Status::Error(lw + ": bad pool size " + std::to_string(l.kernel));
        int64_t h = ConvOut(shape[0], l.kernel, l.kernel, false);
        int64_t w = ConvOut(shape[1], l.kernel, l.kernel, false);
        if (h < 1 || w < 1) return Status::Error(lw + ": pool larger than its input");
        shape = {h, w, shape[2]};
        break;
      }
      case LayerKind::kGlobalAvgPool2D:
        if (!spatial) return Status::Error(lw + ": needs an HxWxC input");
        shape = {shape[2]};
        break;
      case LayerKind::kDropout:
        if (!(l.rate >= 0.f && l.rate < 1.f)) return Status::Error(lw + ": bad rate " + std::to_string(l.rate));
        break;
      case LayerKind::kFlatten: {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        shape = {n};
        break;
      }
      case LayerKind::kDense:
        if (spatial) return Status::Error(lw + ": Dense on an HxWxC tensor; add Flatten or GlobalAvgPool first");
        if (l.units < 1) return Status::Error(lw + ": bad units " + std::to_string(l.units));
        shape = {l.units};
        break;
    }
    r.out_shape = shape;
    out->push_back(std::move(r));
  }
  const LayerSpec& last = arch.layers.back();
  const bool binary = last.units == 1 && last.activation == Activation::kSigmoid;
  const bool multi = last.units >= 3 && last.units <= kMaxClasses && last.activation == Activation::kSoftmax;
  if (last.kind != LayerKind::kDense || !(binary || multi))
    return Status::Error(where + ": the last layer must be Dense(1, sigmoid) or Dense(K, softmax) with K = 3.." +
                         std::to_string(kMaxClasses));
  for (size_t i = 0; i + 1 < arch.layers.size(); ++i)
    if (arch.layers[i].activation == Activation::kSigmoid || arch.layers[i].activation == Activation::kSoftmax)
      return Status::Error(where + ": only the last layer may be a sigmoid or softmax");
  return Status::Ok();
}

std::vector<TensorSpec> ModelTensors(const std::vector<ResolvedLayer>& layers) {
  std::vector<TensorSpec> t;
  for (size_t i = 0; i < layers.size(); ++i) {
    const ResolvedLayer& r = layers[i];
    const int64_t cin = r.in_shape.back();
    const int64_t k = r.spec.kernel;
    const int64_t u = r.spec.units;
    switch (r.spec.kind) {
      case LayerKind::kConv2D:
        t.push_back({r.name + ".weight", {u, cin, k, k}, true, i});
        if (r.spec.use_bias) t.push_back({r.name + ".bias", {u}, true, i});
        break;
      case LayerKind::kSeparableConv2D:
        t.push_back({r.name + ".depthwise.weight", {cin, 1, k, k}, true, i});
        t.push_back({r.name + ".pointwise.weight", {u, cin, 1, 1}, true, i});
        if (r.spec.use_bias) t.push_back({r.name + ".pointwise.bias", {u}, true, i});
        break;
      case LayerKind::kBatchNorm:
        t.push_back({r.name + ".weight", {cin}, true, i});
        t.push_back({r.name + ".bias", {cin}, true, i});
        t.push_back({r.name + ".running_mean", {cin}, false, i});
        t.push_back({r.name + ".running_var", {cin}, false, i});
        break;
      case LayerKind::kDense:
        t.push_back({r.name + ".weight", {u, cin}, true, i});
        if (r.spec.use_bias) t.push_back({r.name + ".bias", {u}, true, i});
        break;
      default:
        break;
    }
  }
  return t;
}

namespace {
const char* KindKey(LayerKind k) {
  switch (k) {
    case LayerKind::kConv2D: return "conv2d";
    case LayerKind::kSeparableConv2D: return "separable_conv2d";
    case LayerKind::kBatchNorm: return "batch_norm";
    case LayerKind::kMaxPool2D: return "max_pool2d";
    case LayerKind::kGlobalAvgPool2D: return "global_avg_pool2d";
    case LayerKind::kDropout: return "dropout";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kDense: return "dense";
  }
  return "?";
}
}  // namespace

std::string ArchToJson(const ArchSpec& arch) {
  nlohmann::json j;
  j["name"] = arch.name;
  j["description"] = arch.description;
  j["layers"] = nlohmann::json::array();
  for (const LayerSpec& l : arch.layers) {
    j["layers"].push_back({{"kind", KindKey(l.kind)}, {"units", l.units}, {"kernel", l.kernel},
                           {"stride", l.stride}, {"same_padding", l.same_padding}, {"use_bias", l.use_bias},
                           {"activation", ActivationName(l.activation)}, {"rate", l.rate}});
  }
  return j.dump();
}

Status ArchFromJson(const std::string& text, ArchSpec* out) {
  nlohmann::json j;
  if (!jsonb::Parse(text, &j, nullptr, "architecture") || !j.is_object()) return Status::Error("architecture: invalid JSON");
  ArchSpec a;
  auto str = [](const nlohmann::json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  a.name = str(j, "name");
  a.description = str(j, "description");
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return Status::Error("architecture '" + a.name + "': no layers array");
  for (const nlohmann::json& lj : *layers) {
    if (!lj.is_object()) return Status::Error("architecture '" + a.name + "': a layer is not an object");
    LayerSpec l;
    std::string kind = str(lj, "kind");
    bool found = false;
    for (LayerKind k : {LayerKind::kConv2D, LayerKind::kSeparableConv2D, LayerKind::kBatchNorm, LayerKind::kMaxPool2D,
                        LayerKind::kGlobalAvgPool2D, LayerKind::kDropout, LayerKind::kFlatten, LayerKind::kDense}) {
      if (kind == KindKey(k)) { l.kind = k; found = true; }
    }
    if (!found) return Status::Error("architecture '" + a.name + "': unknown layer kind '" + kind + "'");
    auto num = [&](const char* k, double def) {
      auto it = lj.find(k);
      return it != lj.end() && it->is_number() ? it->get<double>() : def;
    };
    auto flag = [&](const char* k, bool def) {
      auto it = lj.find(k);
      return it != lj.end() && it->is_boolean() ? it->get<bool>() : def;
    };
    l.units = static_cast<int>(num("units", 0));
    l.kernel = static_cast<int>(num("kernel", 3));
    l.stride = static_cast<int>(num("stride", 1));
    l.same_padding = flag("same_padding", false);
    l.use_bias = flag("use_bias", true);
    l.rate = static_cast<float>(num("rate", 0));
    std::string act = str(lj, "activation");
    if (act == "relu") l.activation = Activation::kRelu;
    else if (act == "sigmoid") l.activation = Activation::kSigmoid;
    else if (act == "softmax") l.activation = Activation::kSoftmax;
    else if (act == "linear" || act.empty()) l.activation = Activation::kLinear;
    else return Status::Error("architecture '" + a.name + "': unknown activation '" + act + "'");
    a.layers.push_back(l);
  }
  *out = std::move(a);
  return Status::Ok();
}

}  // namespace catdog::train
