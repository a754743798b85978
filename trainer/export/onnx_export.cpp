// onnx_export.h: a Sequential TF.js layers model -> an ONNX graph, layer by layer.
#include "onnx_export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

#include "catdog/json_bounded.h"
#include "catdog/sha256.h"
#include "fsutil.h"
#include "model_files.h"
#include "onnx_proto.h"

namespace catdog::cli {
namespace {

using json = nlohmann::json;
namespace stdfs = std::filesystem;

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// Where the running tensor's axes are: Keras' own NHWC (the input), NCHW (after a convolution),
// or a rank-2 [N, features] (after Flatten / global pooling / Dense).
enum class Layout { kNHWC, kNCHW, kFlat };

class Converter {
 public:
  // `bound`: "layer/kind" -> the weightsManifest entry the core bound to it (ModelInfo::layers), so
  // that a file whose names a converter renamed converts with the weights the core runs.
  Converter(const std::vector<tfjs::NamedWeight>& weights, std::string source, std::map<std::string, std::string> bound)
      : weights_(weights), src_(std::move(source)), bound_(std::move(bound)) {}

  Status Run(const json& layers, const std::vector<int64_t>& input_shape);
  onnx::Graph& graph() { return g_; }
  uint64_t weight_floats() const { return weight_floats_; }
  const std::string& output() const { return cur_; }
  const std::vector<int64_t>& output_shape() const { return shape_; }

 private:
  Status Layer(const json& layer, size_t index);
  Status Fail(const std::string& what) const { return Status::Error(src_ + ": layer '" + name_ + "' (" + cls_ + "): " + what); }

  // The weight "<layer>/<kind>" (or ".../<layer>/<kind>", Keras 3's model prefixes), of `shape`.
  Status Weight(const std::string& kind, const std::vector<int64_t>& shape, const std::vector<float>** out);
  std::string Init(const std::string& suffix, std::vector<int64_t> dims, const std::vector<float>& values);
  std::string Add(const std::string& op, std::vector<std::string> inputs, std::vector<onnx::Attribute> attrs = {},
                  const std::string& suffix = "");
  void ToNCHW();
  void ToNHWC();
  Status Activation(const std::string& act);
  Status Conv(const json& c, bool depthwise, bool separable);
  Status Pool(const json& c, bool max);
  Status Window(const json& c, const char* kernel_key, const char* strides_key, std::vector<int64_t>* k,
                std::vector<int64_t>* s, std::vector<int64_t>* d, std::vector<int64_t>* pads, std::vector<int64_t>* out_hw);

  const std::vector<tfjs::NamedWeight>& weights_;
  std::string src_, name_, cls_;
  std::map<std::string, std::string> bound_;
  onnx::Graph g_;
  std::string cur_ = "input";
  Layout layout_ = Layout::kNHWC;
  std::vector<int64_t> shape_;  // without batch, in Keras (NHWC) order
  uint64_t weight_floats_ = 0;
  int counter_ = 0;
};

Status Converter::Weight(const std::string& kind, const std::vector<int64_t>& shape, const std::vector<float>** out) {
  const std::string want = name_ + "/" + kind;
  int found = -1, matches = 0;
  bool from_core = false;
  if (auto b = bound_.find(want); b != bound_.end())
    for (size_t i = 0; i < weights_.size() && !from_core; ++i)
      if (weights_[i].name == b->second) {
        found = static_cast<int>(i);
        matches = 1;
        from_core = true;
      }
  for (size_t i = 0; i < weights_.size() && !from_core; ++i) {
    const std::string& n = weights_[i].name;
    if (n == want) {
      found = static_cast<int>(i);
      matches = 1;
      break;
    }
    if (n.size() > want.size() && n.compare(n.size() - want.size(), want.size(), want) == 0 &&
        n[n.size() - want.size() - 1] == '/') {
      found = static_cast<int>(i);
      ++matches;
    }
  }
  if (matches == 0) return Fail("weight '" + want + "' is not in the weightsManifest");
  if (matches > 1) return Fail("weight '" + want + "' matches several weightsManifest entries");
  const tfjs::NamedWeight& w = weights_[static_cast<size_t>(found)];
  if (w.shape != shape)
    return Fail("weight '" + w.name + "' has shape " + ShapeStr(w.shape) + ", the layer needs " + ShapeStr(shape));
  *out = &w.data;
  return Status::Ok();
}

std::string Converter::Init(const std::string& suffix, std::vector<int64_t> dims, const std::vector<float>& values) {
  std::string n = name_ + "/" + suffix;
  weight_floats_ += values.size();
  g_.initializers.push_back(onnx::FloatTensor(n, std::move(dims), values));
  return n;
}

std::string Converter::Add(const std::string& op, std::vector<std::string> inputs, std::vector<onnx::Attribute> attrs,
                           const std::string& suffix) {
  onnx::Node n;
  n.op_type = op;
  n.name = name_ + "/" + (suffix.empty() ? op : suffix) + "_" + std::to_string(counter_++);
  n.inputs = std::move(inputs);
  n.outputs = {n.name};
  n.attributes = std::move(attrs);
  g_.nodes.push_back(std::move(n));
  cur_ = g_.nodes.back().outputs[0];
  return cur_;
}

void Converter::ToNCHW() {
  if (layout_ != Layout::kNHWC) return;
  Add("Transpose", {cur_}, {onnx::Attribute::Ints("perm", {0, 3, 1, 2})}, "to_nchw");
  layout_ = Layout::kNCHW;
}

void Converter::ToNHWC() {
  if (layout_ != Layout::kNCHW) return;
  Add("Transpose", {cur_}, {onnx::Attribute::Ints("perm", {0, 2, 3, 1})}, "to_nhwc");
  layout_ = Layout::kNHWC;
}

// Keras activations by their model.json names (shared/src/layers/registry.inc lists what the core
// runs); the ONNX operator with the same formula.
Status Converter::Activation(const std::string& name) {
  std::string act;  // TF.js writes "hardSigmoid", Keras "hard_sigmoid" (as the core reads both)
  for (char ch : name) {
    if (ch >= 'A' && ch <= 'Z') {
      if (!act.empty()) act += '_';
      act += static_cast<char>(ch - 'A' + 'a');
    } else {
      act += ch;
    }
  }
  if (act == "linear") return Status::Ok();
  if (act == "relu") { Add("Relu", {cur_}); return Status::Ok(); }
  if (act == "sigmoid") { Add("Sigmoid", {cur_}); return Status::Ok(); }
  if (act == "tanh") { Add("Tanh", {cur_}); return Status::Ok(); }
  if (act == "elu") { Add("Elu", {cur_}, {onnx::Attribute::Float("alpha", 1.f)}); return Status::Ok(); }
  if (act == "selu") { Add("Selu", {cur_}); return Status::Ok(); }  // ONNX's defaults are Keras' constants
  if (act == "softplus") { Add("Softplus", {cur_}); return Status::Ok(); }
  if (act == "softsign") { Add("Softsign", {cur_}); return Status::Ok(); }
  if (act == "hard_sigmoid") {  // TF.js: clip(0.2 x + 0.5, 0, 1)
    Add("HardSigmoid", {cur_}, {onnx::Attribute::Float("alpha", 0.2f), onnx::Attribute::Float("beta", 0.5f)});
    return Status::Ok();
  }
  if (act == "relu6") {
    const std::string lo = Init("clip_min", {}, {0.f}), hi = Init("clip_max", {}, {6.f});
    Add("Clip", {cur_, lo, hi});
    return Status::Ok();
  }
  if (act == "swish" || act == "silu") {
    const std::string x = cur_;
    const std::string s = Add("Sigmoid", {x});
    Add("Mul", {x, s});
    return Status::Ok();
  }
  if (act == "softmax") {  // Keras: the last axis of its (NHWC) shape
    const int64_t axis = layout_ == Layout::kNCHW ? 1 : -1;
    Add("Softmax", {cur_}, {onnx::Attribute::Int("axis", axis)});
    return Status::Ok();
  }
  return Fail("activation '" + act + "' has no ONNX conversion here (converted: linear, relu, relu6, sigmoid, "
              "hard_sigmoid, tanh, softmax, elu, selu, swish, silu, softplus, softsign)");
}

// Two ints from a config entry that may be one number or a list of two.
bool Pair(const json& c, const char* key, std::vector<int64_t>* out, std::vector<int64_t> fallback) {
  if (!c.contains(key) || c[key].is_null()) {
    *out = std::move(fallback);
    return !out->empty();
  }
  const json& v = c[key];
  if (v.is_number_integer()) {
    *out = {v.get<int64_t>(), v.get<int64_t>()};
  } else if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()) {
    *out = {v[0].get<int64_t>(), v[1].get<int64_t>()};
  } else {
    return false;
  }
  return (*out)[0] > 0 && (*out)[1] > 0;
}

std::string ConfigStr(const json& c, const char* key, const std::string& fallback) {
  return c.contains(key) && c[key].is_string() ? c[key].get<std::string>() : fallback;
}

// Kernel, strides, dilations, ONNX pads [top, left, bottom, right] and the output height/width of a
// 2-D window over shape_ (Keras "valid": no padding; "same": out = ceil(in / stride), the odd pixel
// of padding at the bottom/right, as TF).
Status Converter::Window(const json& c, const char* kernel_key, const char* strides_key, std::vector<int64_t>* k,
                         std::vector<int64_t>* s, std::vector<int64_t>* d, std::vector<int64_t>* pads,
                         std::vector<int64_t>* out_hw) {
  if (!Pair(c, kernel_key, k, {})) return Fail(std::string(kernel_key) + " is not one or two positive integers");
  // Absent strides: a pooling layer's default is its pool size, a convolution's 1.
  const bool pooling = std::string(kernel_key) == "pool_size";
  if (!Pair(c, strides_key, s, pooling ? *k : std::vector<int64_t>{1, 1}))
    return Fail(std::string(strides_key) + " is not one or two positive integers");
  if (!Pair(c, "dilation_rate", d, {1, 1})) return Fail("dilation_rate is not one or two positive integers");
  const std::string fmt = ConfigStr(c, "data_format", "channels_last");
  if (fmt != "channels_last") return Fail("data_format '" + fmt + "' (only channels_last)");
  const std::string padding = ConfigStr(c, "padding", "valid");
  if (padding != "valid" && padding != "same") return Fail("padding '" + padding + "' (valid or same)");
  if (shape_.size() != 3) return Fail("input shape " + ShapeStr(shape_) + " is not [H, W, C]");
  *pads = {0, 0, 0, 0};
  out_hw->assign(2, 0);
  for (int a = 0; a < 2; ++a) {
    const int64_t in = shape_[static_cast<size_t>(a)];
    const int64_t eff = ((*k)[a] - 1) * (*d)[a] + 1;
    if (padding == "valid") {
      if (in < eff) return Fail("window " + std::to_string(eff) + " is larger than the input " + ShapeStr(shape_));
      (*out_hw)[a] = (in - eff) / (*s)[a] + 1;
    } else {
      const int64_t out = (in + (*s)[a] - 1) / (*s)[a];
      const int64_t total = std::max<int64_t>((out - 1) * (*s)[a] + eff - in, 0);
      (*pads)[a] = total / 2;
      (*pads)[a + 2] = total - total / 2;
      (*out_hw)[a] = out;
    }
  }
  return Status::Ok();
}

Status Converter::Conv(const json& c, bool depthwise, bool separable) {
  std::vector<int64_t> k, s, d, pads, hw;
  Status st = Window(c, "kernel_size", "strides", &k, &s, &d, &pads, &hw);
  if (!st) return st;
  if (c.contains("groups") && c["groups"].is_number_integer() && c["groups"].get<int64_t>() != 1)
    return Fail("groups " + c["groups"].dump() + " (only 1)");
  const bool use_bias = !c.contains("use_bias") || !c["use_bias"].is_boolean() || c["use_bias"].get<bool>();
  const int64_t C = shape_[2];
  ToNCHW();
  std::vector<onnx::Attribute> window = {onnx::Attribute::Ints("kernel_shape", k), onnx::Attribute::Ints("strides", s),
                                         onnx::Attribute::Ints("dilations", d), onnx::Attribute::Ints("pads", pads)};
  int64_t out_c = 0;
  if (!depthwise && !separable) {
    if (!c.contains("filters") || !c["filters"].is_number_integer() || c["filters"].get<int64_t>() <= 0)
      return Fail("filters is not a positive integer");
    out_c = c["filters"].get<int64_t>();
    const std::vector<float>* kernel = nullptr;
    if (!(st = Weight("kernel", {k[0], k[1], C, out_c}, &kernel))) return st;
    // Keras HWIO -> ONNX OIHW.
    std::vector<float> w(kernel->size());
    for (int64_t y = 0; y < k[0]; ++y)
      for (int64_t x = 0; x < k[1]; ++x)
        for (int64_t i = 0; i < C; ++i)
          for (int64_t o = 0; o < out_c; ++o)
            w[static_cast<size_t>(((o * C + i) * k[0] + y) * k[1] + x)] = (*kernel)[static_cast<size_t>(((y * k[1] + x) * C + i) * out_c + o)];
    std::vector<std::string> ins = {cur_, Init("kernel_oihw", {out_c, C, k[0], k[1]}, w)};
    if (use_bias) {
      const std::vector<float>* bias = nullptr;
      if (!(st = Weight("bias", {out_c}, &bias))) return st;
      ins.push_back(Init("bias", {out_c}, *bias));
    }
    window.push_back(onnx::Attribute::Int("group", 1));
    Add("Conv", ins, window);
  } else {
    int64_t mult = 1;
    if (c.contains("depth_multiplier")) {
      if (!c["depth_multiplier"].is_number_integer() || c["depth_multiplier"].get<int64_t>() <= 0)
        return Fail("depth_multiplier is not a positive integer");
      mult = c["depth_multiplier"].get<int64_t>();
    }
    const std::vector<float>* dk = nullptr;
    if (!(st = Weight("depthwise_kernel", {k[0], k[1], C, mult}, &dk))) return st;
    // Keras [kh, kw, C, mult] -> ONNX [C * mult, 1, kh, kw] with group C: output channel c * mult + m.
    std::vector<float> w(dk->size());
    for (int64_t y = 0; y < k[0]; ++y)
      for (int64_t x = 0; x < k[1]; ++x)
        for (int64_t i = 0; i < C; ++i)
          for (int64_t m = 0; m < mult; ++m)
            w[static_cast<size_t>(((i * mult + m) * k[0] + y) * k[1] + x)] = (*dk)[static_cast<size_t>(((y * k[1] + x) * C + i) * mult + m)];
    std::vector<std::string> ins = {cur_, Init("depthwise_kernel_oihw", {C * mult, 1, k[0], k[1]}, w)};
    out_c = C * mult;
    if (depthwise && use_bias) {
      const std::vector<float>* bias = nullptr;
      if (!(st = Weight("bias", {out_c}, &bias))) return st;
      ins.push_back(Init("bias", {out_c}, *bias));
    }
    window.push_back(onnx::Attribute::Int("group", C));
    Add("Conv", ins, window, separable ? "depthwise" : "Conv");
    if (separable) {
      if (!c.contains("filters") || !c["filters"].is_number_integer() || c["filters"].get<int64_t>() <= 0)
        return Fail("filters is not a positive integer");
      const int64_t F = c["filters"].get<int64_t>();
      const std::vector<float>* pk = nullptr;
      if (!(st = Weight("pointwise_kernel", {1, 1, out_c, F}, &pk))) return st;
      std::vector<float> pw(pk->size());
      for (int64_t i = 0; i < out_c; ++i)
        for (int64_t o = 0; o < F; ++o) pw[static_cast<size_t>(o * out_c + i)] = (*pk)[static_cast<size_t>(i * F + o)];
      std::vector<std::string> pins = {cur_, Init("pointwise_kernel_oihw", {F, out_c, 1, 1}, pw)};
      if (use_bias) {
        const std::vector<float>* bias = nullptr;
        if (!(st = Weight("bias", {F}, &bias))) return st;
        pins.push_back(Init("bias", {F}, *bias));
      }
      Add("Conv", pins, {onnx::Attribute::Ints("kernel_shape", {1, 1})}, "pointwise");
      out_c = F;
    }
  }
  shape_ = {hw[0], hw[1], out_c};
  return Activation(ConfigStr(c, "activation", "linear"));
}

Status Converter::Pool(const json& c, bool max) {
  std::vector<int64_t> k, s, d, pads, hw;
  Status st = Window(c, "pool_size", "strides", &k, &s, &d, &pads, &hw);
  if (!st) return st;
  ToNCHW();
  std::vector<onnx::Attribute> attrs = {onnx::Attribute::Ints("kernel_shape", k), onnx::Attribute::Ints("strides", s),
                                        onnx::Attribute::Ints("pads", pads)};
  // AveragePool's count_include_pad stays 0: Keras averages over the pixels inside the image.
  Add(max ? "MaxPool" : "AveragePool", {cur_}, attrs);
  shape_ = {hw[0], hw[1], shape_[2]};
  return Status::Ok();
}

Status Converter::Layer(const json& layer, size_t index) {
  if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string())
    return Status::Error(src_ + ": layer " + std::to_string(index) + " has no class_name");
  cls_ = layer["class_name"].get<std::string>();
  const json empty = json::object();
  const json& c = layer.contains("config") && layer["config"].is_object() ? layer["config"] : empty;
  name_ = ConfigStr(c, "name", cls_ + "_" + std::to_string(index));

  if (cls_ == "InputLayer") return Status::Ok();
  if (cls_ == "Dropout" || cls_ == "SpatialDropout2D" || cls_ == "GaussianNoise" || cls_ == "GaussianDropout" ||
      cls_ == "AlphaDropout")
    return Status::Ok();  // identity at inference, as in the core
  if (cls_ == "Conv2D") return Conv(c, false, false);
  if (cls_ == "DepthwiseConv2D") return Conv(c, true, false);
  if (cls_ == "SeparableConv2D") return Conv(c, false, true);
  if (cls_ == "MaxPooling2D") return Pool(c, true);
  if (cls_ == "AveragePooling2D") return Pool(c, false);
  if (cls_ == "GlobalAveragePooling2D" || cls_ == "GlobalMaxPooling2D") {
    if (shape_.size() != 3) return Fail("input shape " + ShapeStr(shape_) + " is not [H, W, C]");
    if (c.contains("keepdims") && c["keepdims"].is_boolean() && c["keepdims"].get<bool>()) return Fail("keepdims true");
    const std::string fmt = ConfigStr(c, "data_format", "channels_last");
    if (fmt != "channels_last") return Fail("data_format '" + fmt + "' (only channels_last)");
    ToNCHW();
    Add(cls_ == "GlobalMaxPooling2D" ? "GlobalMaxPool" : "GlobalAveragePool", {cur_});
    Add("Flatten", {cur_}, {onnx::Attribute::Int("axis", 1)});
    layout_ = Layout::kFlat;
    shape_ = {shape_[2]};
    return Status::Ok();
  }
  if (cls_ == "ZeroPadding2D") {
    if (shape_.size() != 3) return Fail("input shape " + ShapeStr(shape_) + " is not [H, W, C]");
    const std::string fmt = ConfigStr(c, "data_format", "channels_last");
    if (fmt != "channels_last") return Fail("data_format '" + fmt + "' (only channels_last)");
    // padding: n | [h, w] | [[top, bottom], [left, right]] (Keras' three spellings).
    int64_t t = 1, b = 1, l = 1, r = 1;
    const json& p = c.contains("padding") ? c["padding"] : empty;
    auto is_int = [](const json& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; };
    if (is_int(p)) {
      t = b = l = r = p.get<int64_t>();
    } else if (p.is_array() && p.size() == 2 && is_int(p[0]) && is_int(p[1])) {
      t = b = p[0].get<int64_t>();
      l = r = p[1].get<int64_t>();
    } else if (p.is_array() && p.size() == 2 && p[0].is_array() && p[1].is_array() && p[0].size() == 2 && p[1].size() == 2 &&
               is_int(p[0][0]) && is_int(p[0][1]) && is_int(p[1][0]) && is_int(p[1][1])) {
      t = p[0][0].get<int64_t>();
      b = p[0][1].get<int64_t>();
      l = p[1][0].get<int64_t>();
      r = p[1][1].get<int64_t>();
    } else if (!p.is_object()) {
      return Fail("padding " + p.dump() + " is not n, [h, w] or [[top, bottom], [left, right]] of integers >= 0");
    }
    ToNCHW();
    const std::string pads = name_ + "/pads";
    g_.initializers.push_back(onnx::Int64Tensor(pads, {8}, {0, 0, t, l, 0, 0, b, r}));
    // The padding value is -0.0, equal to 0 in every sum and comparison: ONNX Runtime (1.31) folds
    // a Pad of +0 into a following MaxPool/AveragePool's own pads, which a MaxPool counts as -inf
    // (another result) and which it refuses once they reach the kernel size (the conformance
    // fixture "pooling": "Pad should be smaller than kernel"); it leaves this Pad alone.
    const std::string value = Init("pad_value", {}, {-0.0f});
    Add("Pad", {cur_, pads, value});
    shape_ = {shape_[0] + t + b, shape_[1] + l + r, shape_[2]};
    return Status::Ok();
  }
  if (cls_ == "Flatten") {
    if (shape_.size() == 1) return Status::Ok();
    ToNHWC();  // Keras flattens its own (NHWC) order
    Add("Flatten", {cur_}, {onnx::Attribute::Int("axis", 1)});
    int64_t n = 1;
    for (int64_t v : shape_) n *= v;
    shape_ = {n};
    layout_ = Layout::kFlat;
    return Status::Ok();
  }
  if (cls_ == "Dense") {
    if (shape_.size() != 1) return Fail("input shape " + ShapeStr(shape_) + ": only a Dense on [features] is converted");
    if (!c.contains("units") || !c["units"].is_number_integer() || c["units"].get<int64_t>() <= 0)
      return Fail("units is not a positive integer");
    const int64_t units = c["units"].get<int64_t>();
    const std::vector<float>* kernel = nullptr;
    Status st = Weight("kernel", {shape_[0], units}, &kernel);
    if (!st) return st;
    std::vector<std::string> ins = {cur_, Init("kernel", {shape_[0], units}, *kernel)};
    const bool use_bias = !c.contains("use_bias") || !c["use_bias"].is_boolean() || c["use_bias"].get<bool>();
    if (use_bias) {
      const std::vector<float>* bias = nullptr;
      if (!(st = Weight("bias", {units}, &bias))) return st;
      ins.push_back(Init("bias", {units}, *bias));
      Add("Gemm", ins);
    } else {
      Add("MatMul", ins);
    }
    shape_ = {units};
    return Activation(ConfigStr(c, "activation", "linear"));
  }
  if (cls_ == "BatchNormalization") {
    const int64_t rank_with_batch = static_cast<int64_t>(shape_.size()) + 1;
    int64_t axis = -1;
    if (c.contains("axis")) {
      const json& a = c["axis"];
      if (a.is_number_integer()) axis = a.get<int64_t>();
      else if (a.is_array() && a.size() == 1 && a[0].is_number_integer()) axis = a[0].get<int64_t>();
      else return Fail("axis " + a.dump() + " (only the last axis)");
    }
    if (axis != -1 && axis != rank_with_batch - 1) return Fail("axis " + std::to_string(axis) + " (only the last axis)");
    if (shape_.size() != 3 && shape_.size() != 1) return Fail("input shape " + ShapeStr(shape_) + " (rank 1 or 3 only)");
    const int64_t C = shape_.back();
    const bool scale = !c.contains("scale") || !c["scale"].is_boolean() || c["scale"].get<bool>();
    const bool center = !c.contains("center") || !c["center"].is_boolean() || c["center"].get<bool>();
    double eps = 1e-3;
    if (c.contains("epsilon")) {
      if (!c["epsilon"].is_number() || !(c["epsilon"].get<double>() >= 0)) return Fail("epsilon is not a number >= 0");
      eps = c["epsilon"].get<double>();
    }
    const std::vector<float>* gamma = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
    const std::vector<float> ones(static_cast<size_t>(C), 1.f), zeros(static_cast<size_t>(C), 0.f);
    Status st;
    if (scale && !(st = Weight("gamma", {C}, &gamma))) return st;
    if (center && !(st = Weight("beta", {C}, &beta))) return st;
    if (!(st = Weight("moving_mean", {C}, &mean))) return st;
    if (!(st = Weight("moving_variance", {C}, &var))) return st;
    if (shape_.size() == 3) ToNCHW();
    std::vector<std::string> ins = {cur_, Init("gamma", {C}, gamma ? *gamma : ones), Init("beta", {C}, beta ? *beta : zeros),
                                    Init("moving_mean", {C}, *mean), Init("moving_variance", {C}, *var)};
    Add("BatchNormalization", ins, {onnx::Attribute::Float("epsilon", static_cast<float>(eps))});
    return Status::Ok();
  }
  if (cls_ == "Activation") {
    if (!c.contains("activation") || !c["activation"].is_string()) return Fail("activation is not a name");
    return Activation(c["activation"].get<std::string>());
  }
  if (cls_ == "ReLU") {
    auto num = [&](const char* key, double fallback) {
      return c.contains(key) && c[key].is_number() ? c[key].get<double>() : fallback;
    };
    const double slope = num("negative_slope", 0), threshold = num("threshold", 0);
    const bool capped = c.contains("max_value") && c["max_value"].is_number();
    if (slope != 0 || threshold != 0) return Fail("negative_slope / threshold other than 0");
    if (!capped) return Activation("relu");
    const std::string lo = Init("clip_min", {}, {0.f});
    const std::string hi = Init("clip_max", {}, {static_cast<float>(c["max_value"].get<double>())});
    Add("Clip", {cur_, lo, hi});
    return Status::Ok();
  }
  if (cls_ == "LeakyReLU" || cls_ == "ELU") {
    const bool leaky = cls_ == "LeakyReLU";
    double alpha = leaky ? 0.3 : 1.0;
    for (const char* key : {"alpha", "negative_slope"})
      if (c.contains(key) && c[key].is_number()) alpha = c[key].get<double>();
    Add(leaky ? "LeakyRelu" : "Elu", {cur_}, {onnx::Attribute::Float("alpha", static_cast<float>(alpha))});
    return Status::Ok();
  }
  if (cls_ == "Softmax") {  // axis counts the batch: -1 or the last is Keras' last (channel) axis
    const int64_t last = static_cast<int64_t>(shape_.size());
    if (c.contains("axis") && !(c["axis"].is_number_integer() && (c["axis"].get<int64_t>() == -1 || c["axis"].get<int64_t>() == last)))
      return Fail("axis " + c["axis"].dump() + " (only the last, -1 or " + std::to_string(last) + ")");
    return Activation("softmax");
  }
  return Fail("layer class has no ONNX conversion here (converted: InputLayer, Conv2D, DepthwiseConv2D, "
              "SeparableConv2D, BatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, "
              "GlobalMaxPooling2D, ZeroPadding2D, Flatten, Dense, Dropout and the noise layers, Activation, ReLU, LeakyReLU, ELU, Softmax)");
}

Status Converter::Run(const json& layers, const std::vector<int64_t>& input_shape) {
  shape_ = input_shape;
  for (size_t i = 0; i < layers.size(); ++i) {
    Status s = Layer(layers[i], i);
    if (!s) return s;
  }
  name_ = "output";
  ToNHWC();  // a 4-D output is the model's own NHWC
  onnx::Node out;
  out.op_type = "Identity";
  out.name = "output";
  out.inputs = {cur_};
  out.outputs = {"output"};
  g_.nodes.push_back(out);
  cur_ = "output";
  return Status::Ok();
}

// The Sequential model's layer list (model_config.config.layers, or config as a list: Keras 2.0).
Status SequentialLayers(const json& doc, const std::string& src, const json** layers) {
  if (!doc.contains("modelTopology") || !doc["modelTopology"].is_object()) return Status::Error(src + ": no modelTopology object");
  const json& topo = doc["modelTopology"];
  const json& mc = topo.contains("model_config") ? topo["model_config"] : topo;
  if (!mc.is_object() || !mc.contains("class_name") || !mc["class_name"].is_string())
    return Status::Error(src + ": modelTopology has no model class_name");
  const std::string cls = mc["class_name"].get<std::string>();
  if (cls != "Sequential")
    return Status::Error(src + ": model class '" + cls + "': only Sequential models are converted to ONNX (every shipped catdog model is one)");
  if (!mc.contains("config")) return Status::Error(src + ": Sequential model without a config");
  const json& cfg = mc["config"];
  if (cfg.is_array()) *layers = &cfg;
  else if (cfg.is_object() && cfg.contains("layers") && cfg["layers"].is_array()) *layers = &cfg["layers"];
  else return Status::Error(src + ": Sequential model without a layers list");
  return Status::Ok();
}

std::string Compact(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string AsText(const json& j) { return j.is_string() ? j.get<std::string>() : Compact(j); }

}  // namespace

Status TfjsToOnnx(const std::string& model_json, const std::vector<tfjs::NamedWeight>& weights, const ModelInfo& info,
                  const std::string& source_name, const std::string& model_json_sha256, std::string* onnx_bytes,
                  OnnxModelSummary* summary) {
  json doc;
  std::string why;
  if (!jsonb::Parse(model_json, &doc, &why, source_name)) return Status::Error(why);
  if (!doc.is_object()) return Status::Error(source_name + ": not a JSON object");
  const json* layers = nullptr;
  Status s = SequentialLayers(doc, source_name, &layers);
  if (!s) return s;
  if (info.input_shape.size() != 3)
    return Status::Error(source_name + ": input shape " + ShapeStr(info.input_shape) + " is not [H, W, C]: only image models are converted");

  std::map<std::string, std::string> bound;
  std::map<std::string, int> seen;
  for (const LayerInfo& l : info.layers) ++seen[l.name];
  for (const LayerInfo& l : info.layers)
    if (seen[l.name] == 1)  // a name twice (nested models) is left to the names as written
      for (const auto& [kind, entry] : l.weights) bound[l.name + "/" + kind] = entry;
  Converter conv(weights, source_name, std::move(bound));
  if (!(s = conv.Run(*layers, info.input_shape))) return s;
  if (conv.output_shape() != info.output_shape)
    return Status::Error(source_name + ": the converted graph's output " + ShapeStr(conv.output_shape()) +
                         " differs from the model's " + ShapeStr(info.output_shape));

  onnx::ModelDesc m;
  m.opsets = {{"", kOnnxOpset}};
  m.producer_name = "catdog";
  m.producer_version = "convert --to onnx";
  m.model_version = 1;
  m.graph = std::move(conv.graph());
  m.graph.name = "catdog";
  onnx::ValueInfo in{"input", onnx::kFloat, {{-1, "N"}}};
  for (int64_t d : info.input_shape) in.shape.push_back({d, ""});
  onnx::ValueInfo out{"output", onnx::kFloat, {{-1, "N"}}};
  for (int64_t d : info.output_shape) out.shape.push_back({d, ""});
  m.graph.inputs = {in};
  m.graph.outputs = {out};

  // The contract the user needs beside the graph, from userDefinedMetadata.catdog.
  json cd = json::object();
  if (doc.contains("userDefinedMetadata") && doc["userDefinedMetadata"].is_object() &&
      doc["userDefinedMetadata"].contains("catdog") && doc["userDefinedMetadata"]["catdog"].is_object())
    cd = doc["userDefinedMetadata"]["catdog"];
  auto& md = m.metadata_props;
  md.push_back({"catdog.input", "input: float32 NHWC " + ShapeStr(info.input_shape) +
                                    " per sample (batch first), preprocess() of the image (DESIGN contract 1)"});
  const bool calibrated = info.temperature != 1.0 || (cd.contains("calibration") && cd["calibration"].is_object());
  md.push_back({"catdog.output", "output: " + ShapeStr(info.output_shape) + " per sample, " +
                                     (cd.contains("output") ? AsText(cd["output"]) : std::string("the model's output")) +
                                     (calibrated ? ", raw (calibrate it with catdog.calibration_temperature)" : "")});
  for (const char* key : {"labels", "input_size", "channels", "fit", "gray", "input_scale", "threshold", "arch"})
    if (cd.contains(key)) md.push_back({std::string("catdog.") + key, AsText(cd[key])});
  if (cd.contains("selfcheck") && cd["selfcheck"].is_object() && cd["selfcheck"].contains("preprocess"))
    md.push_back({"catdog.preprocess", Compact(cd["selfcheck"]["preprocess"])});
  if (calibrated) {
    char t[64];
    std::snprintf(t, sizeof t, "%.17g", info.temperature);
    md.push_back({"catdog.calibration_temperature", t});
    if (info.labels.size() > 2) {
      // K softmax classes: catdog::Classify's formula, with the class offsets when the model has them.
      // The offsets as model.json has them (the core parsed and checked them; it keeps floats).
      if (!info.class_bias.empty()) md.push_back({"catdog.calibration_class_bias", Compact(cd["calibration"]["class_bias"])});
      md.push_back({"catdog.calibration",
                    std::string("calibrated P = softmax(log(clamp(p, 1e-7, 1)) / temperature") +
                        (info.class_bias.empty() ? ")" : " + catdog.calibration_class_bias); the class shown is the largest")});
    } else {
      md.push_back({"catdog.calibration", "calibrated P(dog) = sigmoid(logit(clamp(p, 1e-7, 1 - 1e-7)) / temperature)"});
    }
  }
  if (info.has_ood && info.ood_method == kOodMaxProb) {
    char t[64];
    std::snprintf(t, sizeof t, "%.17g", info.ood_threshold);
    md.push_back({"catdog.ood", std::string("max-prob: neither cat nor dog when min(p, 1 - p) of the calibrated P(dog) > ") + t});
  }
  std::string quant = "float32";
  for (const tfjs::NamedWeight& w : weights)
    if (w.stored != tfjs::DType::kFloat32) quant = tfjs::DTypeName(w.stored);
  md.push_back({"catdog.source_quantization", quant == "float32" ? quant : quant + " (dequantized to float32 here, as the core does)"});
  md.push_back({"catdog.source_model_json_sha256", model_json_sha256});
  m.doc_string = "catdog model converted from a TF.js layers model (its model.json: catdog.source_model_json_sha256); "
                 "cat = 0, dog = 1";

  summary->nodes = m.graph.nodes.size();
  summary->initializers = m.graph.initializers.size();
  summary->layers = layers->size();
  summary->weight_floats = conv.weight_floats();
  summary->quantization = quant;
  *onnx_bytes = onnx::SerializeModel(m);
  return Status::Ok();
}

Status TfjsBytesToOnnx(const std::string& model_json, const std::vector<ShardBytes>& shards,
                       const std::string& source_name, std::string* onnx_bytes, OnnxModelSummary* summary) {
  LoadOptions lo;
  lo.backend = Backend::kReference;
  std::unique_ptr<Model> model;
  Status s = Model::Parse(model_json, &model, lo, source_name);
  if (s) s = model->LoadWeights(shards);  // the core loads it: the same checks
  if (!s) return s;
  std::vector<tfjs::NamedWeight> weights;
  if (!(s = tfjs::ReadWeights(model_json, shards, source_name, &weights))) return s;
  const std::string sha = Sha256::Hex(model_json.data(), model_json.size());
  return TfjsToOnnx(model_json, weights, model->info(), source_name, sha, onnx_bytes, summary);
}

Status CheckOnnxOut(const std::string& out_path, bool force, const std::vector<std::string>& inputs) {
  if (out_path.empty()) return Status::Error("--out: a file for the ONNX model is required");
  std::error_code ec;
  const stdfs::path out(out_path);
  if (stdfs::is_directory(out, ec)) return Status::Error("--out " + out_path + " is a folder; name the .onnx file to write");
  if (!stdfs::exists(out, ec)) return Status::Ok();
  for (const std::string& p : inputs) {
    std::error_code eq;
    if (stdfs::equivalent(out, p, eq))
      return Status::Error("--out " + out_path + " is the model's own file " + p + ": refusing to replace the input");
  }
  if (!force) return Status::Error("--out " + out_path + " exists; pass --force to replace it");
  return Status::Ok();
}

Status ConvertModel(const ConvertOptions& o, ConvertResult* r, bool* bad) {
  *bad = true;
  if (o.to != "onnx") return Status::Error("--to '" + o.to + "': only onnx");
  if (o.out.empty()) return Status::Error("--out: a file for the ONNX model is required");

  LoadOptions lo;
  lo.backend = Backend::kReference;
  fs::ModelFiles files;
  fs::OpenOptions open;
  open.load = lo;
  open.weights = false;  // TfjsBytesToOnnx loads them, from the same bytes
  Status s = fs::OpenModel(o.model, open, &files);
  if (!s) return s;
  const std::string& src = files.json_path;

  // --out: never one of the model's own files, never an existing file without --force.
  std::vector<std::string> inputs = {src};
  const stdfs::path dir = stdfs::path(src).parent_path();
  for (const std::string& p : files.model->shard_paths()) inputs.push_back((dir / p).string());
  if (!(s = CheckOnnxOut(o.out, o.force, inputs))) return s;

  std::string bytes;
  if (!(s = TfjsBytesToOnnx(files.text, files.Views(), src, &bytes, &r->summary))) return s;

  *bad = false;
  if (!(s = fs::WriteFileAtomic(o.out, bytes.data(), bytes.size()))) return s;
  r->bytes = bytes.size();
  r->sha256 = Sha256::Hex(bytes.data(), bytes.size());
  return Status::Ok();
}

}  // namespace catdog::cli
