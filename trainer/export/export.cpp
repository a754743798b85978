#include "export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "fsutil.h"

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
        c["activation"] = ActivationName(l.activation);
        c["use_bias"] = l.use_bias;
        c["kernel_initializer"] = Glorot();
        c["bias_initializer"] = Initializer("Zeros");
        c["kernel_regularizer"] = nullptr;
        c["bias_regularizer"] = nullptr;
        c["activity_regularizer"] = nullptr;
        c["kernel_constraint"] = nullptr;
        c["bias_constraint"] = nullptr;
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
      c["activation"] = ActivationName(l.activation);
      c["use_bias"] = l.use_bias;
      c["kernel_initializer"] = Glorot();
      c["bias_initializer"] = Initializer("Zeros");
      c["kernel_regularizer"] = nullptr;
      c["bias_regularizer"] = nullptr;
      c["activity_regularizer"] = nullptr;
      c["kernel_constraint"] = nullptr;
      c["bias_constraint"] = nullptr;
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

void PutLE(std::vector<uint8_t>* b, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b->push_back(uint8_t(v >> (8 * i)));
}

Status WriteDirAtomic(const std::string& out_dir, const TfjsModel& m) {
  stdfs::path out(out_dir);
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir"
  std::error_code ec;
  if (stdfs::exists(out, ec)) {
    if (!stdfs::is_directory(out, ec)) return Status::Error(out.string() + ": exists and is not a directory");
    if (!stdfs::exists(out / "model.json", ec) && !stdfs::is_empty(out, ec))
      return Status::Error(out.string() + ": exists, is not empty and holds no model.json; refusing to replace it");
  }
  const stdfs::path parent = out.has_parent_path() ? out.parent_path() : stdfs::path(".");
  stdfs::create_directories(parent, ec);
  if (ec) return Status::Error(out.string() + ": cannot create the folder " + parent.string() + ": " + ec.message());
  // The staging folder an export killed mid-way left (marker checked: fsutil.h) goes first.
  size_t stale = 0;
  Status cleaned = fs::RemoveStaleTemps(parent.string(), &stale, out.filename().string());
  if (!cleaned) return cleaned;
  fs::StagingDir staging;  // removed, with whatever is left in it, on every return
  Status s = staging.Create(parent.string(), out.filename().string());
  if (!s) return s;
  const stdfs::path tmp = stdfs::path(staging.path()) / "model";
  stdfs::create_directories(tmp, ec);
  if (ec) return Status::Error(tmp.string() + ": cannot create: " + ec.message());
  for (size_t i = 0; i < m.shards.size(); ++i) {
    s = fs::WriteFileAtomic((tmp / m.shard_names[i]).string(), m.shards[i].data(), m.shards[i].size());
    if (!s) return s;
  }
  s = fs::WriteFileAtomic((tmp / "model.json").string(), m.model_json);
  if (!s) return s;
  s = fs::ReplaceDir(tmp.string(), out.string(), (stdfs::path(staging.path()) / "previous").string());
  if (!s) return s;
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

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return uint16_t(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0));  // inf/nan
  if (abs >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs < 0x33000000u) return uint16_t(sign);  // < 2^-25 rounds to zero
    const uint32_t e = abs >> 23;                       // 102..112 here
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;  // value = mant * 2^(e-150)
    const uint32_t shift = 126 - e;                      // to units of 2^-24 (the half subnormal step)
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;  // may carry into the smallest normal: still right
    return uint16_t(sign | r);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return uint16_t(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
  float f;
  if (e == 0) {
    f = std::ldexp(float(m), -24);
    return sign ? -f : f;
  }
  uint32_t x = e == 31 ? (sign | 0x7F800000u | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));
  std::memcpy(&f, &x, 4);
  return f;
}

Status QuantizeTensor(const std::vector<float>& data, const std::string& dtype, Quantized* q) {
  q->bytes.clear();
  q->dequantized.resize(data.size());
  q->min = 0;
  q->scale = 1;
  if (dtype == "float16") {
    for (size_t i = 0; i < data.size(); ++i) {
      uint16_t h = FloatToHalf(data[i]);
      PutLE(&q->bytes, h, 2);
      q->dequantized[i] = HalfToFloat(h);
    }
    return Status::Ok();
  }
  if (dtype != "uint8" && dtype != "uint16") return Status::Error("--quantize '" + dtype + "': must be float16, uint16 or uint8");
  const int bytes = dtype == "uint8" ? 1 : 2;
  const double qmax = dtype == "uint8" ? 255.0 : 65535.0;
  double mn = data.empty() ? 0.0 : *std::min_element(data.begin(), data.end());
  double mx = data.empty() ? 0.0 : *std::max_element(data.begin(), data.end());
  double scale = 1.0;
  if (mn != mx) {
    scale = (mx - mn) / qmax;
    if (mn <= 0 && 0 <= mx) {
      const double zero_point = std::nearbyint((0 - mn) / scale);  // numpy rounds half to even
      mn = -zero_point * scale;
      mx = qmax * scale + mn;
    }
  }
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t v = 0;
    if (mn != mx) {
      const double c = std::min(std::max(double(data[i]), mn), mx);
      v = uint32_t(std::nearbyint((c - mn) / scale));
    }
    PutLE(&q->bytes, v, bytes);
    // TF.js dequantizes in float32: v * scale + min.
    q->dequantized[i] = float(v) * float(scale) + float(mn);
  }
  q->min = mn;
  q->scale = scale;
  return Status::Ok();
}

Status BuildTfjsModel(const Checkpoint& ck, const ExportOptions& opt, TfjsModel* out) {
  if (!opt.quantize.empty() && opt.quantize != "float16" && opt.quantize != "uint8" && opt.quantize != "uint16")
    return Status::Error("--quantize '" + opt.quantize + "': must be float16, uint16 or uint8");
  if (opt.max_shard_bytes < 4) return Status::Error("shard size " + std::to_string(opt.max_shard_bytes) + " is too small");
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
  std::vector<uint8_t> blob;
  json manifest_weights = json::array();
  for (const KerasWeight& w : weights) {
    json entry = {{"name", w.name}, {"shape", w.shape}, {"dtype", "float32"}};
    if (opt.quantize.empty()) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(w.data.data());
      blob.insert(blob.end(), p, p + w.data.size() * 4);
    } else {
      Quantized q;
      s = QuantizeTensor(w.data, opt.quantize, &q);
      if (!s) return s;
      blob.insert(blob.end(), q.bytes.begin(), q.bytes.end());
      json qj = {{"dtype", opt.quantize}, {"original_dtype", "float32"}};
      if (opt.quantize != "float16") {
        qj["min"] = q.min;
        qj["scale"] = q.scale;
      }
      entry["quantization"] = qj;
    }
    manifest_weights.push_back(entry);
  }
  const size_t nshards = std::max<size_t>(1, (blob.size() + opt.max_shard_bytes - 1) / opt.max_shard_bytes);
  out->shards.clear();
  out->shard_names.clear();
  json paths = json::array();
  for (size_t i = 0; i < nshards; ++i) {
    const size_t begin = i * opt.max_shard_bytes, end = std::min<size_t>(blob.size(), begin + opt.max_shard_bytes);
    out->shards.emplace_back(blob.begin() + long(begin), blob.begin() + long(end));
    out->shard_names.push_back("group1-shard" + std::to_string(i + 1) + "of" + std::to_string(nshards) + ".bin");
    paths.push_back(out->shard_names.back());
  }

  // Golden pairs: stored inputs from the checkpoint (a constant image and pack images), else
  // synthetic ones; outputs from libtorch on the (dequantized) weights.
  const int S = ck.input_size;
  out->golden.clear();
  if (meta.contains("golden_images") && meta["golden_images"].is_array()) {
    for (const json& g : meta["golden_images"]) {
      if (!g.is_object() || !g.contains("u8_base64") || !g["u8_base64"].is_string()) continue;
      GoldenPair p;
      p.desc = Str(g, "desc", "");
      if (!Base64Decode(g["u8_base64"].get<std::string>(), &p.input_u8) || p.input_u8.size() != size_t(S) * S)
        continue;
      out->golden.push_back(std::move(p));
    }
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
  json golden = json::array();
  if (opt.compute_golden) {
    std::vector<float> inputs;
    for (const GoldenPair& g : out->golden)
      for (uint8_t v : g.input_u8) inputs.push_back(float(v) / 255.f);
    std::vector<float> outputs;
    s = TorchPredict(deq, inputs.data(), int(out->golden.size()), &outputs);
    if (!s) return s;
    for (size_t i = 0; i < out->golden.size(); ++i) {
      out->golden[i].output = outputs[i];
      golden.push_back({{"desc", out->golden[i].desc},
                        {"input_u8_base64", Base64Encode(out->golden[i].input_u8.data(), out->golden[i].input_u8.size())},
                        {"input_scale", 1.0 / 255.0},
                        {"output", {outputs[i]}},
                        {"tolerance", 1e-4}});
    }
  }

  json layer_configs = json::array();
  for (size_t i = 0; i < layers.size(); ++i) layer_configs.push_back(LayerConfig(layers[i], i == 0, S));
  json topology = {
      {"keras_version", kKerasVersion},
      {"backend", "tensorflow"},
      {"model_config", {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", layer_configs}}}}},
      {"training_config",
       {{"loss", "binary_crossentropy"},
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
      {"labels", {"cat", "dog"}},
      {"output", "sigmoid P(dog)"},
      {"threshold", 0.5},
      {"arch", ck.arch.name},
      {"arch_description", ck.arch.description},
      {"quantization", opt.quantize.empty() ? "none" : opt.quantize},
      {"run_card", Obj(meta, "run_card")},
      {"golden", golden},
  };
  // The self-check block (catdog.h): the golden photos above plus patterns and an RGBA image that
  // goes through preprocess(), with libtorch's outputs on the dequantized weights, and every
  // shard's SHA-256; runtimes check it right after loading.
  if (opt.compute_golden) {
    std::vector<std::pair<std::string, std::vector<uint8_t>>> photos;
    for (const GoldenPair& g : out->golden)
      if (g.desc.find('/') != std::string::npos) photos.emplace_back(g.desc, g.input_u8);
    std::vector<SelfCheckGolden> checks = DefaultSelfCheckGoldens(S, photos);
    std::vector<float> inputs, one;
    for (const SelfCheckGolden& g : checks) {
      s = PreprocessGolden(g, S, &one);
      if (!s) return s;
      inputs.insert(inputs.end(), one.begin(), one.end());
    }
    std::vector<float> outputs;
    s = TorchPredict(deq, inputs.data(), int(checks.size()), &outputs);
    if (!s) return s;
    if (outputs.size() != checks.size())
      return Status::Error("self-check goldens: libtorch gave " + std::to_string(outputs.size()) + " outputs for " +
                           std::to_string(checks.size()) + " images");
    for (size_t i = 0; i < checks.size(); ++i) checks[i].expected = {outputs[i]};
    std::vector<ShardBytes> views;
    for (const auto& sh : out->shards) views.push_back({sh.data(), sh.size()});
    catdog["selfcheck"] = json::parse(MakeSelfCheckBlock(S, checks, out->shard_names, views, "libtorch"));
  }
  json model = {{"format", "layers-model"},
                {"generatedBy", std::string("keras v") + kKerasVersion},
                {"convertedBy", kConvertedBy},
                {"modelTopology", topology},
                {"weightsManifest", {{{"paths", paths}, {"weights", manifest_weights}}}},
                {"userDefinedMetadata", {{"catdog", catdog}}}};
  out->model_json = model.dump();
  return Status::Ok();
}

Status ExportTfjs(const Checkpoint& ckpt, const ExportOptions& options, const std::string& out_dir, TfjsModel* written) {
  TfjsModel m;
  Status s = BuildTfjsModel(ckpt, options, &m);
  if (!s) return s;
  s = WriteDirAtomic(out_dir, m);
  if (!s) return s;
  if (written) *written = std::move(m);
  return Status::Ok();
}

}  // namespace catdog::train
