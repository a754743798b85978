#include "finetune.h"

#include "catdog/classify.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <map>

#include "export.h"
#include "catdog/json_bounded.h"
#include "catdog/tfjs_format.h"
#include "fsutil.h"
#include "model_files.h"
#include "models.h"
#include "pack.h"

namespace catdog::train {

namespace {
using json = nlohmann::json;
namespace stdfs = std::filesystem;

struct Weight {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

std::string Str(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Every weight of the manifest, dequantized by the format's one reader (catdog/tfjs_format.h),
// by name. `blobs` holds every shard's bytes in manifest order (fs::ReadModelShards).
Status ReadWeights(const std::string& where, const std::string& text, const std::vector<std::vector<uint8_t>>& blobs,
                   std::map<std::string, Weight>* out) {
  std::vector<ShardBytes> views;
  for (const auto& b : blobs) views.push_back({b.data(), b.size()});
  std::vector<tfjs::NamedWeight> named;
  Status s = tfjs::ReadWeights(text, views, where, &named);
  if (!s) return s;
  for (tfjs::NamedWeight& w : named) {
    const std::string name = w.name;
    if (!out->emplace(name, Weight{std::move(w.shape), std::move(w.data)}).second)
      return Status::Error(where + ": weight " + name + " appears twice in weightsManifest");
  }
  return Status::Ok();
}

}  // namespace

Status CheckpointFromTfjs(const std::string& dir_or_json, const std::string& arch_override, TfjsCheckpoint* out) {
  // model.json and the shards through the shared reader (regular files inside the folder, each
  // once, bounded bytes); the shards only after the architecture checks below.
  std::string text, where;
  Status s = fs::ReadModelJson(dir_or_json, &where, &text);
  if (!s) return s;
  const stdfs::path json_path(where);
  json model;
  std::string why;
  if (!jsonb::Parse(text, &model, &why, where)) return Status::Error(why);
  if (!model.is_object()) return Status::Error(where + ": not a JSON object");
  json catdog = json::object();
  if (model.contains("userDefinedMetadata") && model["userDefinedMetadata"].is_object() &&
      model["userDefinedMetadata"].contains("catdog") && model["userDefinedMetadata"]["catdog"].is_object())
    catdog = model["userDefinedMetadata"]["catdog"];
  std::string arch_name = arch_override;
  if (arch_name.empty() && catdog.contains("arch") && catdog["arch"].is_string()) arch_name = catdog["arch"];
  if (arch_name.empty())
    return Status::Error(where + ": userDefinedMetadata.catdog.arch is missing; name the architecture with --arch (" +
                         ArchNames() + ")");
  const ArchSpec* arch = FindArch(arch_name);
  if (!arch) return Status::Error(where + ": architecture '" + arch_name + "' is not one of " + ArchNames());
  int size = 100;
  if (catdog.contains("input_size")) {
    if (!catdog["input_size"].is_number_integer() || catdog["input_size"].get<int>() < 8 ||
        catdog["input_size"].get<int>() > 4096)
      return Status::Error(where + ": userDefinedMetadata.catdog.input_size " + catdog["input_size"].dump() +
                           " is not a size in 8..4096");
    size = catdog["input_size"].get<int>();
  }
  // The core's parse checks the manifest, its shard paths and the labels; then the shards are read.
  LoadOptions lo;
  lo.backend = Backend::kReference;
  std::unique_ptr<Model> parsed;
  if (!(s = Model::Parse(text, &parsed, lo, where))) return s;
  // The head the model was exported with: Dense(1, sigmoid) for two classes, Dense(K, softmax) for K.
  const ArchSpec arch_k = WithClasses(*arch, ClassCount(parsed->info()));
  arch = &arch_k;
  std::vector<ResolvedLayer> layers;
  s = ResolveArch(*arch, size, &layers);
  if (!s) return Status::Error(where + ": " + s.message());
  std::vector<std::vector<uint8_t>> blobs;
  if (!(s = fs::ReadModelShards(where, parsed->shard_paths(), parsed->info().weight_bytes, &blobs))) return s;
  std::map<std::string, Weight> weights;
  s = ReadWeights(where, text, blobs, &weights);
  if (!s) return s;

  auto take = [&](const std::string& name, const std::vector<int64_t>& shape, const Weight** w) -> Status {
    auto it = weights.find(name);
    if (it == weights.end())
      return Status::Error(where + ": no weight '" + name + "' (architecture '" + arch_name + "' needs it)");
    if (it->second.shape != shape)
      return Status::Error(where + ": weight " + name + " has shape " + ShapeStr(it->second.shape) + ", architecture '" +
                           arch_name + "' needs " + ShapeStr(shape));
    *w = &it->second;
    return Status::Ok();
  };
  // Keras [kh,kw,I,O] -> torch [O,I,kh,kw]
  auto hwio_to_oihw = [](const Weight& w, int64_t O, int64_t I, int64_t H, int64_t W) {
    std::vector<float> t(w.data.size());
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t x = 0; x < W; ++x)
            t[size_t(((o * I + i) * H + h) * W + x)] = w.data[size_t(((h * W + x) * I + i) * O + o)];
    return t;
  };

  Checkpoint ck;
  ck.arch = *arch;
  ck.input_size = size;
  std::vector<int64_t> flatten_from;
  size_t used = 0;
  for (const TensorSpec& spec : ModelTensors(layers)) {
    const ResolvedLayer& r = layers[spec.layer];
    const std::string& n = r.name;
    const std::string suffix = spec.name.substr(n.size());  // ".weight", ".depthwise.weight", ...
    const Weight* w = nullptr;
    HostTensor t{spec.name, spec.shape, {}};
    const auto& sh = spec.shape;
    switch (r.spec.kind) {
      case LayerKind::kConv2D:
        if (suffix == ".weight") {
          if (!(s = take(n + "/kernel", {sh[2], sh[3], sh[1], sh[0]}, &w))) return s;
          t.data = hwio_to_oihw(*w, sh[0], sh[1], sh[2], sh[3]);
        } else {
          if (!(s = take(n + "/bias", sh, &w))) return s;
          t.data = w->data;
        }
        break;
      case LayerKind::kSeparableConv2D:
        if (suffix == ".depthwise.weight") {
          // Keras [kh,kw,C,1] holds the same bytes as [kh,kw,1,C] read as O=C, I=1.
          if (!(s = take(n + "/depthwise_kernel", {sh[2], sh[3], sh[0], 1}, &w))) return s;
          t.data = hwio_to_oihw(*w, sh[0], 1, sh[2], sh[3]);
        } else if (suffix == ".pointwise.weight") {
          if (!(s = take(n + "/pointwise_kernel", {1, 1, sh[1], sh[0]}, &w))) return s;
          t.data = hwio_to_oihw(*w, sh[0], sh[1], 1, 1);
        } else {
          if (!(s = take(n + "/bias", sh, &w))) return s;
          t.data = w->data;
        }
        break;
      case LayerKind::kBatchNorm: {
        const std::string keras = suffix == ".weight" ? "/gamma" : suffix == ".bias" ? "/beta"
                                  : suffix == ".running_mean" ? "/moving_mean" : "/moving_variance";
        if (!(s = take(n + keras, sh, &w))) return s;
        t.data = w->data;
        break;
      }
      case LayerKind::kDense:
        if (suffix == ".weight") {
          const int64_t O = sh[0], I = sh[1];
          if (!(s = take(n + "/kernel", {I, O}, &w))) return s;
          // The Flatten (possibly behind Dropouts) feeding this Dense, if any.
          std::vector<int64_t> perm;
          for (size_t k = spec.layer; k-- > 0;) {
            if (layers[k].spec.kind == LayerKind::kDropout) continue;
            if (layers[k].spec.kind == LayerKind::kFlatten && layers[k].in_shape.size() == 3)
              perm = FlattenNhwcToNchw(layers[k].in_shape[0], layers[k].in_shape[1], layers[k].in_shape[2]);
            break;
          }
          t.data.resize(size_t(O * I));
          for (int64_t i = 0; i < I; ++i) {
            const int64_t dst = perm.empty() ? i : perm[size_t(i)];
            for (int64_t o = 0; o < O; ++o) t.data[size_t(o * I + dst)] = w->data[size_t(i * O + o)];
          }
        } else {
          if (!(s = take(n + "/bias", sh, &w))) return s;
          t.data = w->data;
        }
        break;
      default:
        return Status::Error(where + ": unexpected tensor " + spec.name);
    }
    ++used;
    ck.tensors.push_back(std::move(t));
  }
  if (used != weights.size())
    return Status::Error(where + ": the manifest has " + std::to_string(weights.size()) + " weights, architecture '" +
                         arch_name + "' uses " + std::to_string(used));

  // Meta that export reads back (preprocessing), so a fine-tune keeps the model's input contract.
  json meta = {{"pack", {{"fit", Str(catdog, "fit", "stretch")},
                         {"gray", Str(catdog, "gray", "bt601")}}},
               {"labels", parsed->info().labels}};
  ck.meta_json = meta.dump();
  std::string pack_hash;
  if (catdog.contains("run_card") && catdog["run_card"].is_object() && catdog["run_card"].contains("pack") &&
      catdog["run_card"]["pack"].is_object())
    pack_hash = Str(catdog["run_card"]["pack"], "content_hash", "");
  stdfs::path dir = json_path.parent_path();
  json source = {{"model", where},
                 {"id", dir.filename().string()},
                 {"arch", arch_name},
                 {"model_json_sha256", pack::Sha256::Hex(text.data(), text.size())},
                 {"quantization", Str(catdog, "quantization", "none")},
                 {"pack_content_hash", pack_hash}};
  out->ckpt = std::move(ck);
  out->source_json = source.dump();
  return Status::Ok();
}

Status WidenHead(const Checkpoint& in, const std::vector<std::string>& labels, Checkpoint* out) {
  const int k = int(labels.size());
  if (ArchClasses(in.arch) != 2 || k < 3)
    return Status::Error("a new head widens a two-class model to 3 or more classes (the model has " +
                         std::to_string(ArchClasses(in.arch)) + ", the pack " + std::to_string(k) + ")");
  if (in.tensors.size() < 2) return Status::Error("the checkpoint has no head to widen");
  Checkpoint c = in;
  c.arch = WithClasses(in.arch, k);
  HostTensor& w = c.tensors[c.tensors.size() - 2];
  HostTensor& b = c.tensors.back();
  if (w.shape.size() != 2 || w.shape[0] != 1 || b.shape != std::vector<int64_t>{1})
    return Status::Error("the checkpoint's last tensors " + w.name + " " + ShapeStr(w.shape) + " and " + b.name + " " +
                         ShapeStr(b.shape) + " are not a Dense(1) head");
  const size_t f = size_t(w.shape[1]);
  std::vector<float> wk(size_t(k) * f, 0.f), bk(size_t(k), 0.f);
  for (size_t i = 0; i < f; ++i) wk[i] = -0.5f * w.data[i], wk[f + i] = 0.5f * w.data[i];
  bk[0] = -0.5f * b.data[0], bk[1] = 0.5f * b.data[0];
  w.shape = {k, int64_t(f)};
  w.data = std::move(wk);
  b.shape = {k};
  b.data = std::move(bk);
  json meta = json::parse(c.meta_json.empty() ? "{}" : c.meta_json, nullptr, false);
  if (!meta.is_object()) meta = json::object();
  meta["labels"] = labels;
  meta["widened_from"] = {{"classes", 2}, {"arch", in.arch.name}};
  c.meta_json = meta.dump();
  *out = std::move(c);
  return Status::Ok();
}

Status LoadTeachers(const std::vector<std::string>& paths, TrainOptions* options) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& path : paths) {
    std::error_code ec;
    const bool tfjs = stdfs::path(path).filename() == "model.json" ||
                      (stdfs::is_directory(path, ec) && stdfs::exists(stdfs::path(path) / "model.json", ec));
    Checkpoint ck;
    if (tfjs) {
      TfjsCheckpoint t;
      Status s = CheckpointFromTfjs(path, "", &t);
      if (!s) return s;  // the message names the file
      ck = std::move(t.ckpt);
    } else {
      Status s = ReadCheckpoint(path, &ck);
      if (!s) return s;  // the message names the file
    }
    list.push_back({{"path", path}, {"arch", ck.arch.name}, {"format", tfjs ? "tfjs" : "checkpoint"}});
    options->teachers.push_back(std::make_shared<const Checkpoint>(std::move(ck)));
  }
  options->teachers_json = list.dump();
  return Status::Ok();
}

}  // namespace catdog::train

