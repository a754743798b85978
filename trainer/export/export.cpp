#include "export.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "fsutil.h"
#include "model_files.h"
#include "onnx_export.h"

namespace catdog::train {

namespace {

using json = nlohmann::json;
namespace stdfs = std::filesystem;

constexpr const char* kKerasVersion = "2.12.0";
constexpr const char* kConvertedBy = "catdog 0.1.0 export (tensorflowjs_converter keras layout)";

// Non-throwing accessors for the checkpoint meta (our own, but read defensively).
json Obj(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}
std::string Str(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}
double Num(const json& j, const char* key, double def) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : def;
}

json Initializer(const char* cls) { return {{"class_name", cls}, {"config", json::object()}}; }
json Glorot() { return {{"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}}; }

// The config keys Conv2D and Dense share: activation, bias, Glorot kernel, no regularizers or
// constraints (json's keys are sorted, so where they are set does not change the output).
void KernelConfig(const LayerSpec& l, json* c) {
  (*c)["activation"] = ActivationName(l.activation);
  (*c)["use_bias"] = l.use_bias;
  (*c)["kernel_initializer"] = Glorot();
  (*c)["bias_initializer"] = Initializer("Zeros");
  (*c)["kernel_regularizer"] = nullptr;
  (*c)["bias_regularizer"] = nullptr;
  (*c)["activity_regularizer"] = nullptr;
  (*c)["kernel_constraint"] = nullptr;
  (*c)["bias_constraint"] = nullptr;
}

json LayerConfig(const ResolvedLayer& r, bool first, int size) {
  const LayerSpec& l = r.spec;
  json c;
  c["name"] = r.name;
  c["trainable"] = true;
  if (first) c["batch_input_shape"] = {nullptr, size, size, 1};
  c["dtype"] = "float32";
  switch (l.kind) {
    case LayerKind::kConv2D:
    case LayerKind::kSeparableConv2D:
      c["filters"] = l.units;
      c["kernel_size"] = {l.kernel, l.kernel};
      c["strides"] = {l.stride, l.stride};
      c["padding"] = l.same_padding ? "same" : "valid";
      c["data_format"] = "channels_last";
      c["dilation_rate"] = {1, 1};
      if (l.kind == LayerKind::kConv2D) {
        c["groups"] = 1;
        KernelConfig(l, &c);
      } else {
        c["activation"] = ActivationName(l.activation);
        c["use_bias"] = l.use_bias;
        c["bias_initializer"] = Initializer("Zeros");
        c["bias_regularizer"] = nullptr;
        c["activity_regularizer"] = nullptr;
        c["bias_constraint"] = nullptr;
        c["depth_multiplier"] = 1;
        c["depthwise_initializer"] = Glorot();
        c["pointwise_initializer"] = Glorot();
        c["depthwise_regularizer"] = nullptr;
        c["pointwise_regularizer"] = nullptr;
        c["depthwise_constraint"] = nullptr;
        c["pointwise_constraint"] = nullptr;
      }
      break;
    case LayerKind::kBatchNorm:
      c["axis"] = 3;
      c["momentum"] = 0.99;
      c["epsilon"] = 0.001;
      c["center"] = true;
      c["scale"] = true;
      c["beta_initializer"] = Initializer("Zeros");
      c["gamma_initializer"] = Initializer("Ones");
      c["moving_mean_initializer"] = Initializer("Zeros");
      c["moving_variance_initializer"] = Initializer("Ones");
      c["beta_regularizer"] = nullptr;
      c["gamma_regularizer"] = nullptr;
      c["beta_constraint"] = nullptr;
      c["gamma_constraint"] = nullptr;
      break;
    case LayerKind::kMaxPool2D:
      c["pool_size"] = {l.kernel, l.kernel};
      c["padding"] = "valid";
      c["strides"] = {l.kernel, l.kernel};
      c["data_format"] = "channels_last";
      break;
    case LayerKind::kGlobalAvgPool2D:
      c["data_format"] = "channels_last";
      c["keepdims"] = false;
      break;
    case LayerKind::kDropout:
      c["rate"] = l.rate;
      c["noise_shape"] = nullptr;
      c["seed"] = nullptr;
      break;
    case LayerKind::kFlatten:
      c["data_format"] = "channels_last";
      break;
    case LayerKind::kDense:
      c["units"] = l.units;
      KernelConfig(l, &c);
      break;
  }
  return {{"class_name", KerasClassName(l.kind)}, {"config", c}};
}

// One weight in Keras naming and layout.
struct KerasWeight {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

const HostTensor* Find(const Checkpoint& ck, const std::string& name) {
  for (const HostTensor& t : ck.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// torch [O,I,kh,kw] -> [kh,kw,I,O]
std::vector<float> OihwToHwio(const HostTensor& t) {
  const int64_t O = t.shape[0], I = t.shape[1], H = t.shape[2], W = t.shape[3];
  std::vector<float> k(t.data.size());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) k[size_t(((h * W + w) * I + i) * O + o)] = t.data[size_t(((o * I + i) * H + h) * W + w)];
  return k;
}

Status KerasWeights(const Checkpoint& ck, const std::vector<ResolvedLayer>& layers, std::vector<KerasWeight>* out) {
  std::vector<int64_t> flatten_from;  // [h,w,c] of the Flatten feeding the next Dense, if any
  auto need = [&](const std::string& name, const HostTensor** t) -> Status {
    *t = Find(ck, name);
    if (!*t) return Status::Error("checkpoint has no tensor '" + name + "'");
    return Status::Ok();
  };
  for (const ResolvedLayer& r : layers) {
    const std::string& n = r.name;
    const HostTensor* t = nullptr;
    Status s;
    switch (r.spec.kind) {
      case LayerKind::kConv2D:
        if (!(s = need(n + ".weight", &t))) return s;
        out->push_back({n + "/kernel", {t->shape[2], t->shape[3], t->shape[1], t->shape[0]}, OihwToHwio(*t)});
        if (r.spec.use_bias) {
          if (!(s = need(n + ".bias", &t))) return s;
          out->push_back({n + "/bias", t->shape, t->data});
        }
        flatten_from.clear();
        break;
      case LayerKind::kSeparableConv2D:
        if (!(s = need(n + ".depthwise.weight", &t))) return s;
        // [C,1,kh,kw] read as O=C, I=1 gives [kh,kw,1,C]; Keras wants [kh,kw,C,1]: same bytes.
        out->push_back({n + "/depthwise_kernel", {t->shape[2], t->shape[3], t->shape[0], 1}, OihwToHwio(*t)});
        if (!(s = need(n + ".pointwise.weight", &t))) return s;
        out->push_back({n + "/pointwise_kernel", {1, 1, t->shape[1], t->shape[0]}, OihwToHwio(*t)});
        if (r.spec.use_bias) {
          if (!(s = need(n + ".pointwise.bias", &t))) return s;
          out->push_back({n + "/bias", t->shape, t->data});
        }
        flatten_from.clear();
        break;
      case LayerKind::kBatchNorm: {
        static const char* kTorch[] = {".weight", ".bias", ".running_mean", ".running_var"};
        static const char* kKeras[] = {"/gamma", "/beta", "/moving_mean", "/moving_variance"};
        for (int i = 0; i < 4; ++i) {
          if (!(s = need(n + kTorch[i], &t))) return s;
          out->push_back({n + kKeras[i], t->shape, t->data});
        }
        flatten_from.clear();
        break;
      }
      case LayerKind::kFlatten:
        flatten_from = r.in_shape.size() == 3 ? r.in_shape : std::vector<int64_t>();
        break;
      case LayerKind::kDropout:
        break;  // keeps a pending Flatten order
      case LayerKind::kDense: {
        if (!(s = need(n + ".weight", &t))) return s;
        const int64_t O = t->shape[0], I = t->shape[1];
        std::vector<int64_t> perm;
        if (!flatten_from.empty()) perm = FlattenNhwcToNchw(flatten_from[0], flatten_from[1], flatten_from[2]);
        std::vector<float> k(size_t(I * O));
        for (int64_t i = 0; i < I; ++i) {
          const int64_t src = perm.empty() ? i : perm[size_t(i)];
          for (int64_t o = 0; o < O; ++o) k[size_t(i * O + o)] = t->data[size_t(o * I + src)];
        }
        out->push_back({n + "/kernel", {I, O}, std::move(k)});
        if (r.spec.use_bias) {
          if (!(s = need(n + ".bias", &t))) return s;
          out->push_back({n + "/bias", t->shape, t->data});
        }
        flatten_from.clear();
        break;
      }
      default:
        flatten_from.clear();
        break;
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<int64_t> FlattenNhwcToNchw(int64_t h, int64_t w, int64_t c) {
  std::vector<int64_t> perm(size_t(h * w * c));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t ch = 0; ch < c; ++ch) perm[size_t((y * w + x) * c + ch)] = (ch * h + y) * w + x;
  return perm;
}

Status BuildTfjsModel(const Checkpoint& ck, const ExportOptions& opt, TfjsModel* out) {
  if (!opt.quantize.empty() && opt.quantize != "float16" && opt.quantize != "uint8" && opt.quantize != "uint16")
    return Status::Error("--quantize '" + opt.quantize + "': must be float16, uint16 or uint8");
  std::vector<ResolvedLayer> layers;
  Status s = ResolveArch(ck.arch, ck.input_size, &layers);
  if (!s) return s;
  for (const HostTensor& t : ck.tensors)
    for (float v : t.data)
      if (!std::isfinite(v)) return Status::Error("checkpoint tensor " + t.name + " holds NaN/Inf; refusing to export");
  json meta = json::parse(ck.meta_json.empty() ? "{}" : ck.meta_json, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) meta = json::object();

  // Quantize in torch layout (elementwise, so it commutes with the layout changes below) so that
  // libtorch can compute the golden outputs of exactly the weights the runtime will see.
  Checkpoint deq = ck;
  std::vector<Quantized> quant(ck.tensors.size());
  if (!opt.quantize.empty()) {
    for (size_t i = 0; i < ck.tensors.size(); ++i) {
      s = QuantizeTensor(ck.tensors[i].data, opt.quantize, &quant[i]);
      if (!s) return s;
      deq.tensors[i].data = quant[i].dequantized;
    }
  }
  // Weight bytes in Keras layout. Quantizing a permuted tensor gives the same min/scale and the
  // same code per value as quantizing the torch-layout one above (elementwise, deterministic).
  std::vector<KerasWeight> weights;
  s = KerasWeights(ck, layers, &weights);
  if (!s) return s;
  std::vector<tfjs::NamedWeight> named;
  for (KerasWeight& w : weights) named.push_back({std::move(w.name), std::move(w.shape), std::move(w.data)});
  tfjs::WriteOptions wo;
  wo.max_shard_bytes = opt.max_shard_bytes;
  if (!opt.quantize.empty()) tfjs::ParseDType(opt.quantize, &wo.dtype);  // checked above
  tfjs::WeightFiles files;
  if (!(s = tfjs::WriteWeights(named, wo, &files))) return s;
  out->shards = std::move(files.shards);
  out->shard_names = std::move(files.shard_names);
  const json manifest = json::parse(files.manifest_json);

  // Golden pairs: stored inputs from the checkpoint (a constant image and pack images), else
  // synthetic ones; outputs from libtorch on the (dequantized) weights.
  const int S = ck.input_size;
  out->golden.clear();
  if (meta.contains("golden_images")) {
    // The one golden schema (tfjs_format.h); the model input is a gray image of the input size.
    std::vector<SelfCheckGolden> stored;
    const Status parsed = tfjs::ParseGoldens(meta["golden_images"].dump(), "checkpoint meta golden_images", &stored);
    if (!parsed)  // a checkpoint from before the one schema: synthetic inputs instead, said out loud
      spdlog::warn("export: {}; using synthetic golden inputs (a checkpoint from before the golden schema)", parsed.message());
    else
      for (SelfCheckGolden& g : stored)
        if (g.format == PixelFormat::kGray8 && g.width == S && g.height == S)
          out->golden.push_back({g.name, std::move(g.pixels), 0});
  }
  if (out->golden.empty()) {
    GoldenPair c{"constant 128", std::vector<uint8_t>(size_t(S) * S, 128), 0};
    GoldenPair g{"horizontal gradient", std::vector<uint8_t>(size_t(S) * S), 0};
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) g.input_u8[size_t(y * S + x)] = uint8_t(x * 255 / std::max(1, S - 1));
    GoldenPair r{"uniform noise, std::mt19937 seed 1", std::vector<uint8_t>(size_t(S) * S), 0};
    std::mt19937 rng(1);
    for (auto& v : r.input_u8) v = uint8_t(rng() & 0xFF);
    out->golden = {c, g, r};
  }
  // The classes: the pack's names the checkpoint carries (cat, dog for runs from before K classes),
  // as many as the head gives.
  const int classes = ArchClasses(ck.arch);
  const size_t per = classes == 2 ? 1 : size_t(classes);
  std::vector<std::string> labels = {"cat", "dog"};
  if (meta.contains("labels") && meta["labels"].is_array()) {
    std::vector<std::string> given;
    for (const json& l : meta["labels"])
      if (l.is_string()) given.push_back(l.get<std::string>());
    if (given.size() == meta["labels"].size()) labels = given;
  }
  if (int(labels.size()) != classes)
    return Status::Error("the checkpoint names " + std::to_string(labels.size()) + " classes (" + json(labels).dump() +
                         ") but its head gives " + std::to_string(classes));
  json golden = json::array();
  if (opt.compute_golden) {
    std::vector<float> inputs;
    for (const GoldenPair& g : out->golden)
      for (uint8_t v : g.input_u8) inputs.push_back(float(v) / 255.f);
    std::vector<float> outputs;
    s = TorchPredict(deq, inputs.data(), int(out->golden.size()), &outputs);
    if (!s) return s;
    for (size_t i = 0; i < out->golden.size(); ++i) {
      out->golden[i].output = outputs[i * per + (per == 1 ? 0 : 1)];
      // A pack photo (its name is its path) gives the export log its answer but is never written into
      // the model: a shipped model.json carries no copy of the training data (synthetic inputs only).
      if (out->golden[i].desc.find('/') != std::string::npos) continue;
      SelfCheckGolden g = tfjs::GrayGolden(out->golden[i].desc, S, out->golden[i].input_u8);
      g.expected.assign(outputs.begin() + long(i * per), outputs.begin() + long((i + 1) * per));
      golden.push_back(json::parse(tfjs::GoldenToJson(g)));
    }
  }

  json layer_configs = json::array();
  for (size_t i = 0; i < layers.size(); ++i) layer_configs.push_back(LayerConfig(layers[i], i == 0, S));
  json topology = {
      {"keras_version", kKerasVersion},
      {"backend", "tensorflow"},
      {"model_config", {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", layer_configs}}}}},
      {"training_config",
       {{"loss", classes == 2 ? "binary_crossentropy" : "categorical_crossentropy"},
        {"metrics", {"accuracy"}},
        {"weighted_metrics", nullptr},
        {"loss_weights", nullptr},
        {"optimizer_config",
         {{"class_name", "Adam"},
          {"config",
           {{"name", "Adam"}, {"learning_rate", Num(Obj(meta, "run_card"), "lr", 0.001)},
            {"beta_1", 0.9}, {"beta_2", 0.999}, {"epsilon", 1e-07}, {"amsgrad", false}}}}}}}};
  const json pack = Obj(meta, "pack");
  json catdog = {
      {"input_size", S},
      {"channels", 1},
      {"fit", Str(pack, "fit", "stretch")},
      {"gray", Str(pack, "gray", "bt601")},
      {"input_scale", "u8 / 255"},
      {"labels", labels},
      {"output", classes == 2 ? "sigmoid P(" + labels[1] + ")" : "softmax P(" + std::to_string(classes) + " classes)"},
      {"arch", ck.arch.name},
      {"arch_description", ck.arch.description},
      {"quantization", opt.quantize.empty() ? "none" : opt.quantize},
      {"run_card", Obj(meta, "run_card")},
      {"golden", golden},
      {"golden_tolerance", 1e-4},
  };
  // The self-check block (catdog.h): patterns and an RGBA image that go through preprocess(), with
  // libtorch's outputs on the dequantized weights (no pack photos: see above), and every shard's
  // SHA-256; runtimes check it right after loading.
  if (opt.compute_golden) {
    std::vector<SelfCheckGolden> checks = DefaultSelfCheckGoldens(S, {});
    std::vector<float> inputs, one;
    for (const SelfCheckGolden& g : checks) {
      s = PreprocessGolden(g, S, &one);
      if (!s) return s;
      inputs.insert(inputs.end(), one.begin(), one.end());
    }
    std::vector<float> outputs;
    s = TorchPredict(deq, inputs.data(), int(checks.size()), &outputs);
    if (!s) return s;
    if (outputs.size() != checks.size() * per)
      return Status::Error("self-check goldens: libtorch gave " + std::to_string(outputs.size()) + " outputs for " +
                           std::to_string(checks.size()) + " images of " + std::to_string(per));
    for (size_t i = 0; i < checks.size(); ++i)
      checks[i].expected.assign(outputs.begin() + long(i * per), outputs.begin() + long((i + 1) * per));
    std::vector<ShardBytes> views;
    for (const auto& sh : out->shards) views.push_back({sh.data(), sh.size()});
    catdog["selfcheck"] = json::parse(MakeSelfCheckBlock(S, checks, out->shard_names, views, "libtorch"));
  }
  if (classes == 2) catdog["threshold"] = 0.5;
  json model = {{"format", "layers-model"},
                {"generatedBy", std::string("keras v") + kKerasVersion},
                {"convertedBy", kConvertedBy},
                {"modelTopology", topology},
                {"weightsManifest", manifest},
                {"userDefinedMetadata", {{"catdog", catdog}}}};
  out->model_json = model.dump();
  return Status::Ok();
}

Status CheckLearned(const Checkpoint& ckpt, const std::string& source, bool allow_chance, std::string* warning) {
  warning->clear();
  const json meta = json::parse(ckpt.meta_json.empty() ? "{}" : ckpt.meta_json, nullptr, false);
  const json card = meta.is_object() ? Obj(meta, "run_card") : json::object();
  const LearningCheck c = LearningCheckFromJson(card.is_object() && card.contains("learning_check") ? card["learning_check"] : json());
  if (!c.known || c.beats_chance) return Status::Ok();
  if (allow_chance) {
    *warning = source + " does not beat chance (" + c.Describe() + "); exported anyway (--allow-chance)";
    return Status::Ok();
  }
  return Status::Error("bad input: " + source + " does not beat chance: " + c.Describe() +
                       ". It learned nothing that holds on photos it has not seen: train longer, on more photos or "
                       "with another --lr; --allow-chance exports it anyway");
}

Status ExportTfjs(const Checkpoint& ckpt, const ExportOptions& options, const std::string& out_dir, TfjsModel* written) {
  TfjsModel m;
  Status s = BuildTfjsModel(ckpt, options, &m);
  if (!s) return s;
  fs::ModelOutOptions mo;
  mo.force = options.force;
  mo.inputs = options.inputs;
  s = fs::WriteModelDir(out_dir, m.model_json, m.shard_names, m.shards, mo);
  if (!s) return s;
  if (written) *written = std::move(m);
  return Status::Ok();
}

Status ExportOnnx(const Checkpoint& ckpt, const ExportOptions& options, const std::string& out_file, bool force,
                  bool* bad_input, std::string* summary) {
  *bad_input = true;
  Status s = cli::CheckOnnxOut(out_file, force, {});
  if (!s) return s;
  *bad_input = false;
  TfjsModel m;
  if (!(s = BuildTfjsModel(ckpt, options, &m))) return s;
  std::vector<ShardBytes> views;
  for (const auto& sh : m.shards) views.push_back({sh.data(), sh.size()});
  std::string bytes;
  cli::OnnxModelSummary sum;
  if (!(s = cli::TfjsBytesToOnnx(m.model_json, views, "model.json (exported in memory)", &bytes, &sum))) return s;
  if (!(s = fs::WriteFileAtomic(out_file, bytes.data(), bytes.size()))) return s;
  if (summary)
    *summary = "ONNX opset " + std::to_string(cli::kOnnxOpset) + ", " + std::to_string(sum.nodes) + " nodes, " +
               std::to_string(sum.initializers) + " initializers, " + std::to_string(bytes.size()) + " bytes";
  return Status::Ok();
}

}  // namespace catdog::train
