// Model: parses model.json (topology + weightsManifest), binds decoded weights to the layer
// graph, and runs it. Parsing never throws (the wasm build has no exceptions): JSON is parsed with
// allow_exceptions=false and read only through the type-checking helpers in json_util.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "catdog/catdog.h"
#include "catdog/classify.h"
#include "catdog/json_bounded.h"
#include "graph.h"
#include "json_util.h"
#include "kernels.h"
#include "layers.h"
#include "ood_metadata.h"
#include "weights.h"

namespace catdog {
namespace {

using jsonu::json;
using detail::Layer;

Backend Resolve(Backend b) {
  if (b == Backend::kAuto) return kernels::SimdAvailable() ? Backend::kSimd : Backend::kReference;
  return b;
}

// A manifest entry's name split at '/' as "<scopes...>/<layer>/<kind>" ("sequential/conv2d/kernel"):
// the parts, the layer's name second to last and the kind last. `ok`: at least "<layer>/<kind>".
// (One vector of parts, no copies of them: each member type is wasm code.)
struct EntryName {
  std::vector<std::string> parts;
  bool ok() const { return parts.size() >= 2; }
  const std::string& kind() const { return parts.back(); }
  const std::string& layer() const { return parts[parts.size() - 2]; }
};

EntryName SplitEntry(const std::string& entry) {
  EntryName e;
  size_t start = 0;
  while (true) {
    size_t slash = entry.find('/', start);
    e.parts.push_back(entry.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return e;
}

// How many of the entry's scopes, read from the right, are the layer's enclosing model names
// (its path, innermost last): the evidence that picks between same-named layers of nested models.
int ScopeScore(const EntryName& e, const Layer& l) {
  int score = 0;
  size_t p = e.parts.size() - 2;
  for (size_t k = l.path.size(); k-- > 0 && p-- > 0;) {
    if (e.parts[p] != l.path[k]) break;
    ++score;
  }
  return score;
}

// "<layer>: weight '<name>/<kind>' (shape [..])", the start of the messages about one weight.
std::string WeightWhere(const Layer& l, const detail::WeightSpec& spec) {
  return l.ref.str() + ": weight '" + l.ref.name + "/" + spec.kind + "' (shape " + detail::ShapeStr(spec.shape) + ")";
}

// A converter's suffix: `entry_layer` is `name` + "_" + digits (batch_normalization_1_1 for the
// layer batch_normalization_1, tensorflowjs_converter 3.x on Keras 2.0 models).
bool IsSuffixed(const std::string& entry_layer, const std::string& name) {
  if (entry_layer.size() < name.size() + 2 || entry_layer.compare(0, name.size(), name) != 0 || entry_layer[name.size()] != '_')
    return false;
  for (size_t i = name.size() + 1; i < entry_layer.size(); ++i)
    if (entry_layer[i] < '0' || entry_layer[i] > '9') return false;
  return true;
}

class ModelImpl : public Model {
 public:
  Status Init(std::string_view text, const LoadOptions& opt, std::string src);

  const std::vector<std::string>& shard_paths() const override { return manifest_.paths; }
  Status LoadWeights(const std::vector<ShardBytes>& shards) override;
  const ModelInfo& info() const override { return info_; }
  Backend backend() const override { return backend_; }
  size_t input_size() const override { return static_cast<size_t>(in_numel_); }
  size_t output_size() const override { return static_cast<size_t>(out_numel_); }
  Status Run(const float* input, int batch, float* output) override;
  Status CheckInputShape(const std::vector<int64_t>& shape) const override;
  size_t feature_size() const override { return feat_size_; }
  const float* features(int sample) const override {
    if (feat_ < 0 || sample < 0 || sample >= last_batch_) return nullptr;
    return ptrs_[static_cast<size_t>(feat_)] + static_cast<size_t>(sample) * feat_size_;
  }

 private:
  void FindFeatures();
  Status MatchWeights();
  Status ParseFacts(const json* catdog);
  Status CheckFactsAgainstGraph(const json* meta);
  Status MatchRenamed(bool* tried);
  void Summarize();
  void DescribeLayers();

  std::string src_;
  LoadOptions opt_;
  Backend backend_ = Backend::kReference;
  detail::Graph g_;
  detail::Manifest manifest_;
  std::vector<std::vector<int>> layer_weights_;  // per layer: manifest indices, in Weights() order
  ModelInfo info_;
  int64_t in_numel_ = 0, out_numel_ = 0;
  uint64_t act_bytes_per_sample_ = 0;
  bool loaded_ = false;

  int feat_ = -1;          // the layer whose output Model::features returns (-1: none)
  size_t feat_size_ = 0;
  int last_batch_ = 0;     // samples of the last successful Run
  int capacity_ = 0;  // batch size the buffers hold
  std::vector<std::vector<float>> buffers_;
  std::vector<const float*> ptrs_;
  std::vector<std::vector<const float*>> ins_;
};

Status ModelImpl::Init(std::string_view text, const LoadOptions& opt, std::string src) {
  src_ = std::move(src);
  opt_ = opt;
  if (opt_.threads < 1) return Status::Error(src_ + ": LoadOptions.threads must be >= 1, got " + std::to_string(opt_.threads));
  if (opt_.backend != Backend::kAuto && !BackendAvailable(opt_.backend))
    return Status::Error(src_ + ": backend '" + BackendName(opt_.backend) + "' is not available in this build");
  backend_ = Resolve(opt_.backend);

  json doc;
  std::string why;
  if (!jsonb::Parse(text, &doc, &why, src_)) return Status::Error(why);
  if (!doc.is_object()) return Status::Error(src_ + ": not a TF.js model.json (the top level is not a JSON object)");

  std::string format;
  if (const json* f = jsonu::FindNonNull(doc, "format")) jsonu::AsString(*f, &format);
  if (format == "graph-model")
    return Status::Error(src_ + ": format 'graph-model' is a TF.js graph model, not a layers model (convert with --output_format tfjs_layers_model)");
  const json* topo = jsonu::FindNonNull(doc, "modelTopology");
  if (!topo) return Status::Error(src_ + ": missing 'modelTopology' (not a TF.js layers model.json)");
  if (!topo->is_object()) return Status::Error(src_ + ": 'modelTopology' is not an object");
  const json* wm = jsonu::FindNonNull(doc, "weightsManifest");
  if (!wm) return Status::Error(src_ + ": missing 'weightsManifest' (the list of weight files)");

  info_ = ModelInfo();
  info_.format = format;
  if (const json* v = jsonu::FindNonNull(doc, "generatedBy")) jsonu::AsString(*v, &info_.generated_by);
  if (const json* v = jsonu::FindNonNull(doc, "convertedBy")) jsonu::AsString(*v, &info_.converted_by);
  const json* meta = jsonu::FindNonNull(doc, "userDefinedMetadata");
  info_.user_metadata_json = meta ? jsonu::Dump(*meta, std::string::npos) : "{}";
  if (meta) {
    const json* c = jsonu::FindNonNull(*meta, "catdog");
    const json* cal = c ? jsonu::FindNonNull(*c, "calibration") : nullptr;
    const json* t = cal ? jsonu::FindNonNull(*cal, "temperature") : nullptr;
    if (t) {
      double v = 0;
      if (!jsonu::AsDouble(*t, &v) || !std::isfinite(v) || !(v > 0))
        return Status::Error(src_ + ": userDefinedMetadata.catdog.calibration.temperature " + jsonu::Dump(*t) +
                             " is not a finite number > 0");
      info_.temperature = v;
    }
    if (const json* b = cal ? jsonu::FindNonNull(*cal, "class_bias") : nullptr) {
      if (!b->is_array() || b->empty() || b->size() > size_t(kMaxClasses))
        return Status::Error(src_ + ": userDefinedMetadata.catdog.calibration.class_bias " + jsonu::Dump(*b) +
                             " is not a list of one number per class");
      for (size_t i = 0; i < b->size(); ++i) {
        double v = 0;
        if (!jsonu::AsDouble((*b)[i], &v) || !std::isfinite(v) || std::fabs(v) > 50)
          return Status::Error(src_ + ": userDefinedMetadata.catdog.calibration.class_bias[" + std::to_string(i) +
                               "] " + jsonu::Dump((*b)[i]) + " is not a finite number in [-50, 50]");
        info_.class_bias.push_back(static_cast<float>(v));
      }
    }
    if (Status os = detail::ParseOodMetadata(c, src_, &info_); !os) return os;
    if (Status ps = ParseFacts(c); !ps) return ps;
  }

  Status s = detail::BuildGraph(*topo, src_, &g_, opt_.layer_aliases);
  if (!s) return s;
  DescribeLayers();  // before the fusions below: the layers as model.json has them
  if (backend_ != Backend::kReference) {
    detail::FuseBatchNorm(&g_);
    detail::FuseConvPool(&g_);
  }
  FindFeatures();
  if (info_.has_ood && info_.ood_method == kOodFeatureDistance && info_.ood_inv_var.size() != feat_size_)
    return Status::Error(src_ + ": userDefinedMetadata.catdog.ood has statistics for " +
                         std::to_string(info_.ood_inv_var.size()) + " features, the model has " +
                         std::to_string(feat_size_) + " penultimate features");
  if (!(s = detail::ParseManifest(*wm, src_, opt_.max_total_bytes, &manifest_))) return s;
  if (!(s = MatchWeights())) return s;
  for (size_t li = 0; li < g_.layers.size() && li < info_.layers.size(); ++li) {
    const std::vector<detail::WeightSpec> specs = g_.layers[li]->Weights();
    for (size_t k = 0; k < specs.size() && k < layer_weights_[li].size(); ++k)
      info_.layers[li].weights.emplace_back(specs[k].kind, manifest_.weights[static_cast<size_t>(layer_weights_[li][k])].name);
  }

  // Activation memory per sample: every layer that owns a buffer.
  act_bytes_per_sample_ = 0;
  for (const auto& l : g_.layers) {
    if (l->is_input || l->IsAlias()) continue;
    int64_t n;
    detail::NumElements(l->out_shape, &n);
    act_bytes_per_sample_ += static_cast<uint64_t>(n) * 4;
    if (act_bytes_per_sample_ > opt_.max_total_bytes)
      return Status::Error(src_ + ": activations need more than the limit of " + std::to_string(opt_.max_total_bytes) +
                           " bytes per sample (at layer '" + l->ref.name + "', output " + detail::ShapeStr(l->out_shape) + ")");
  }
  info_.input_shape = g_.input_shape;
  info_.output_shape = g_.layers[static_cast<size_t>(g_.output)]->out_shape;
  detail::NumElements(info_.input_shape, &in_numel_);
  detail::NumElements(info_.output_shape, &out_numel_);
  if (!(s = CheckFactsAgainstGraph(meta))) return s;
  info_.num_weights = static_cast<size_t>(manifest_.total_floats);
  info_.weight_bytes = manifest_.total_bytes;
  Summarize();
  return Status::Ok();
}

// userDefinedMetadata.catdog's decision and input contract (ModelInfo's facts), each refused by
// name: the one reader of these keys.
Status ModelImpl::ParseFacts(const json* c) {
  if (!c) return Status::Ok();
  const std::string at = src_ + ": userDefinedMetadata.catdog.";
  if (const json* v = jsonu::FindNonNull(*c, "threshold")) {
    double t = 0;
    if (!jsonu::AsDouble(*v, &t) || !(t > 0 && t < 1))
      return Status::Error(at + "threshold " + jsonu::Dump(*v) + " is not a number in (0, 1)");
    info_.threshold = t;
  }
  if (const json* v = jsonu::FindNonNull(*c, "fit")) {
    std::string f;
    if (!jsonu::AsString(*v, &f) || !ParseFit(f, &info_.fit))
      return Status::Error(at + "fit " + jsonu::Dump(*v) + " is not \"stretch\" or \"crop\"");
    info_.fit_given = true;
  }
  if (const json* v = jsonu::FindNonNull(*c, "labels")) {
    if (!v->is_array() || v->size() < 2 || v->size() > 64)
      return Status::Error(at + "labels " + jsonu::Dump(*v) + " is not a list of 2 to 64 class names");
    info_.labels.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      std::string name;
      if (!jsonu::AsString((*v)[i], &name))
        return Status::Error(at + "labels[" + std::to_string(i) + "] " + jsonu::Dump((*v)[i]) + " is not a string");
      if (std::string why = LabelProblem(name); !why.empty())
        return Status::Error(at + "labels[" + std::to_string(i) + "] " + jsonu::Dump((*v)[i]) + " " + why);
      for (size_t j = 0; j < i; ++j)
        if (info_.labels[j] == name)
          return Status::Error(at + "labels[" + std::to_string(i) + "] " + jsonu::Dump((*v)[i]) +
                               " is labels[" + std::to_string(j) + "] again: each class needs its own name");
      info_.labels.push_back(name);
    }
  }
  return Status::Ok();
}

// The facts that depend on the graph: labels one per class, input_size the input layer's side, an
// ood block only on a two-class model. A model of K > 2 softmax units without labels (another tool's)
// gets the names "class 0" ... "class K-1".
Status ModelImpl::CheckFactsAgainstGraph(const json* meta) {
  const json* c = meta ? jsonu::FindNonNull(*meta, "catdog") : nullptr;
  const size_t classes = out_numel_ == 1 ? 2 : size_t(out_numel_);
  const bool has_labels = c && jsonu::FindNonNull(*c, "labels");
  if (!has_labels && classes > 2 && classes <= size_t(kMaxClasses)) {
    info_.labels.clear();
    for (size_t i = 0; i < classes; ++i) info_.labels.push_back("class " + std::to_string(i));
  }
  if (!c) return Status::Ok();
  const std::string at = src_ + ": userDefinedMetadata.catdog.";
  if (info_.has_ood && classes != 2)
    return Status::Error(at + "ood is for a two-class model, the model's output " + detail::ShapeStr(info_.output_shape) +
                         " has " + std::to_string(classes) + " classes (a class of its own says \"neither\")");
  if (!info_.class_bias.empty() && (out_numel_ == 1 || info_.class_bias.size() != classes))
    return Status::Error(at + "calibration.class_bias has " + std::to_string(info_.class_bias.size()) +
                         " offsets; it is for a model of K > 2 softmax classes, one per class, and the model's output " +
                         detail::ShapeStr(info_.output_shape) + " has " + std::to_string(classes) +
                         (out_numel_ == 1 ? " classes from one sigmoid unit (its threshold decides)" : " classes"));
  if (has_labels && info_.labels.size() != classes)
    return Status::Error(at + "labels has " + std::to_string(info_.labels.size()) + " names, the model's output " +
                         detail::ShapeStr(info_.output_shape) + " has " + std::to_string(classes) + " classes");
  if (const json* v = jsonu::FindNonNull(*c, "input_size")) {
    int64_t side = 0;
    if (!jsonu::AsInt64(*v, &side) || info_.input_shape.empty() || side != info_.input_shape[0])
      return Status::Error(at + "input_size " + jsonu::Dump(*v) + " disagrees with the input layer " +
                           detail::ShapeStr(info_.input_shape));
  }
  return Status::Ok();
}

// Which manifest entry each layer weight is. First by name as Keras and tfjs-layers write it,
// "<layer>/<kind>" with any enclosing model names before it (the entry matching more of the
// layer's model path wins); that is every file catdog and the converters of Keras >= 2.1 write. If
// that leaves a weight without an entry or an entry without a weight, converters' renamings are
// tried (MatchRenamed). A layer called more than once (weights_of) takes its first call's weights.
Status ModelImpl::MatchWeights() {
  std::vector<int> owner(manifest_.weights.size(), -1);
  layer_weights_.assign(g_.layers.size(), {});
  Status exact = Status::Ok();
  for (size_t li = 0; li < g_.layers.size() && exact; ++li) {
    const Layer& l = *g_.layers[li];
    if (l.weights_of >= 0) continue;
    for (const detail::WeightSpec& spec : l.Weights()) {
      int best = -1, best_score = -1;
      std::vector<int> tied;
      for (size_t w = 0; w < manifest_.weights.size(); ++w) {
        const EntryName e = SplitEntry(manifest_.weights[w].name);
        if (!e.ok() || e.kind() != spec.kind || e.layer() != l.ref.name || owner[w] >= 0) continue;
        const int sc = ScopeScore(e, l);
        if (sc > best_score) {
          best = static_cast<int>(w);
          best_score = sc;
          tied.assign(1, best);
        } else if (sc == best_score) {
          tied.push_back(static_cast<int>(w));
        }
      }
      if (best < 0) {
        std::string have;
        for (size_t w = 0; w < manifest_.weights.size() && w < 12; ++w) have += (w ? ", " : "") + manifest_.weights[w].name;
        if (manifest_.weights.size() > 12) have += ", ...";
        exact = Status::Error(WeightWhere(l, spec) + " is not in the weightsManifest (it has: " + (have.empty() ? "nothing" : have) + ")");
        break;
      }
      if (tied.size() > 1) {
        std::string list;
        for (int w : tied) list += (list.empty() ? "'" : ", '") + manifest_.weights[static_cast<size_t>(w)].name + "'";
        return Status::Error(l.ref.str() + ": weight '" + l.ref.name + "/" + spec.kind + "' matches several weightsManifest entries (" +
                             list + ") equally well; give each the enclosing model names of its layer");
      }
      const detail::WeightEntry& e = manifest_.weights[static_cast<size_t>(best)];
      if (e.shape != spec.shape) {
        exact = Status::Error(l.ref.str() + ": weight '" + e.name + "' has shape " + detail::ShapeStr(e.shape) +
                              " in the weightsManifest, the layer needs " + detail::ShapeStr(spec.shape));
        break;
      }
      owner[static_cast<size_t>(best)] = static_cast<int>(li);
      layer_weights_[li].push_back(best);
    }
  }
  if (exact)
    for (size_t w = 0; w < owner.size(); ++w)
      if (owner[w] < 0) {
        exact = Status::Error(src_ + ": weight '" + manifest_.weights[w].name + "' in the weightsManifest belongs to no layer of the model");
        break;
      }
  if (!exact) {
    // Converters' renamings: only an assignment that is the one possible is taken; an ambiguous
    // one is refused by name. Where they do not explain the file either, the message is the one
    // about the names as written.
    bool tried = false;
    Status renamed = MatchRenamed(&tried);
    if (renamed || tried) return renamed;
    return exact;
  }
  for (size_t li = 0; li < g_.layers.size(); ++li)
    if (g_.layers[li]->weights_of >= 0) layer_weights_[li] = layer_weights_[static_cast<size_t>(g_.layers[li]->weights_of)];
  return Status::Ok();
}

// The weights of a file whose manifest names a converter renamed: an entry may be the layer's name
// with the converter's "_N" suffix, and may carry any enclosing scopes. Each weight's candidates are
// the entries of its kind and shape named after its layer (as written or suffixed), those with the
// most scope evidence kept; a weight with one candidate takes it, which removes it from the others,
// until every weight has its entry. That assignment is then the only one there is. If weights are
// left with several candidates, the file is ambiguous: refused, listing them (never a guess). Each
// layer's weights must come from one name, and every entry must be used.
// *tried: false when renamings explain nothing (no weight has a renamed candidate): the caller then
// reports the plain name error.
Status ModelImpl::MatchRenamed(bool* tried) {
  *tried = false;
  struct Slot {
    size_t layer;
    detail::WeightSpec spec;
    std::vector<int> cands;
    int chosen = -1;
  };
  std::vector<EntryName> names;
  for (const detail::WeightEntry& w : manifest_.weights) names.push_back(SplitEntry(w.name));
  std::vector<Slot> slots;
  bool renamed = false;
  for (size_t li = 0; li < g_.layers.size(); ++li) {
    const Layer& l = *g_.layers[li];
    if (l.weights_of >= 0) continue;
    for (const detail::WeightSpec& spec : l.Weights()) {
      Slot slot{li, spec, {}, -1};
      int best = -1;
      for (size_t w = 0; w < names.size(); ++w) {
        const EntryName& e = names[w];
        if (!e.ok() || e.kind() != spec.kind || manifest_.weights[w].shape != spec.shape) continue;
        const bool suffixed = IsSuffixed(e.layer(), l.ref.name);
        if (e.layer() != l.ref.name && !suffixed) continue;
        renamed = renamed || suffixed;
        const int sc = ScopeScore(e, l);
        if (sc > best) {
          best = sc;
          slot.cands.clear();
        }
        if (sc == best) slot.cands.push_back(static_cast<int>(w));
      }
      slots.push_back(std::move(slot));
    }
  }
  if (!renamed) return Status::Error("no renamed entries");
  *tried = true;
  std::vector<int> owner(manifest_.weights.size(), -1);
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t si = 0; si < slots.size(); ++si) {
      Slot& slot = slots[si];
      if (slot.chosen >= 0) continue;
      size_t kept = 0;  // drop the entries other weights took
      for (int w : slot.cands)
        if (owner[static_cast<size_t>(w)] < 0) slot.cands[kept++] = w;
      slot.cands.resize(kept);
      const Layer& l = *g_.layers[slot.layer];
      if (slot.cands.empty())
        return Status::Error(WeightWhere(l, slot.spec) + " has no weightsManifest entry of that shape named '" + l.ref.name + "/" + slot.spec.kind + "' or '" +
                             l.ref.name + "_N/" + slot.spec.kind + "' left; rename its entry in model.json");
      if (slot.cands.size() == 1) {
        slot.chosen = slot.cands[0];
        owner[static_cast<size_t>(slot.chosen)] = static_cast<int>(si);
        progress = true;
      }
    }
  }
  for (const Slot& slot : slots) {
    if (slot.chosen >= 0) continue;
    const Layer& l = *g_.layers[slot.layer];
    std::string list;
    for (int w : slot.cands) list += (list.empty() ? "'" : ", '") + manifest_.weights[static_cast<size_t>(w)].name + "'";
    return Status::Error(WeightWhere(l, slot.spec) + " could be any of the weightsManifest entries " + list +
                         " (a converter renamed them, and shapes do not tell which); rename the right one to '" + l.ref.name + "/" +
                         slot.spec.kind + "' in model.json");
  }
  for (size_t w = 0; w < owner.size(); ++w)
    if (owner[w] < 0)
      return Status::Error(src_ + ": weight '" + manifest_.weights[w].name + "' in the weightsManifest belongs to no layer of the model");
  // One layer, one name: gamma from bn_1_1 and beta from bn_1_2 would be two layers' weights mixed.
  for (size_t si = 0; si < slots.size(); ++si)
    for (size_t sj = si + 1; sj < slots.size() && slots[sj].layer == slots[si].layer; ++sj) {
      // the same name before the kind: the same layer and scopes
      const std::string& a = manifest_.weights[static_cast<size_t>(slots[si].chosen)].name;
      const std::string& b = manifest_.weights[static_cast<size_t>(slots[sj].chosen)].name;
      if (a.compare(0, a.rfind('/'), b, 0, b.rfind('/')) != 0) {
        const Layer& l = *g_.layers[slots[si].layer];
        return Status::Error(l.ref.str() + ": its weights would come from different weightsManifest names ('" +
                             manifest_.weights[static_cast<size_t>(slots[si].chosen)].name + "', '" +
                             manifest_.weights[static_cast<size_t>(slots[sj].chosen)].name +
                             "'); rename its entries to '" + l.ref.name + "/KIND' in model.json");
      }
    }
  layer_weights_.assign(g_.layers.size(), {});
  for (const Slot& slot : slots) layer_weights_[slot.layer].push_back(slot.chosen);
  for (size_t li = 0; li < g_.layers.size(); ++li)
    if (g_.layers[li]->weights_of >= 0) layer_weights_[li] = layer_weights_[static_cast<size_t>(g_.layers[li]->weights_of)];
  return Status::Ok();
}

// Structured per-layer info. MACs: a kernel of K values applied at P positions is K * P
// multiply-adds; P is the output's spatial size for convolutions (the input's for
// Conv2DTranspose, whose kernel is applied per input pixel) and, for a Dense, the output's
// elements divided by its units.
void ModelImpl::DescribeLayers() {
  info_.layers.clear();
  info_.macs = 0;
  for (const auto& l : g_.layers) {
    LayerInfo li;
    li.name = l->ref.name;
    li.class_name = l->ref.class_name;
    li.input_shapes = l->in_shapes;
    li.output_shape = l->out_shape;
    int64_t out_n = 0;
    detail::NumElements(l->out_shape, &out_n);
    for (const detail::WeightSpec& w : l->Weights()) {
      int64_t n = 0;
      if (!detail::NumElements(w.shape, &n)) continue;
      li.weight_count += uint64_t(n);
      if (w.kind != "kernel" && w.kind != "depthwise_kernel" && w.kind != "pointwise_kernel") continue;
      int64_t positions = 0;
      if (w.shape.size() == 2 && w.shape.back() > 0) {
        positions = out_n / w.shape.back();
      } else if (w.shape.size() == 4) {
        const detail::Shape& at = li.class_name == "Conv2DTranspose" && !l->in_shapes.empty() ? l->in_shapes[0] : l->out_shape;
        if (at.size() == 3) positions = at[0] * at[1];
      }
      li.macs += uint64_t(n) * uint64_t(std::max<int64_t>(positions, 0));
    }
    info_.macs += li.macs;
    info_.layers.push_back(std::move(li));
  }
}

void ModelImpl::Summarize() {
  info_.layer_summary.clear();
  for (const auto& l : g_.layers) {
    std::string line = l->ref.name + " (" + l->ref.class_name + ") -> " + detail::ShapeStr(l->out_shape);
    if (loaded_) {
      std::string k = l->KernelName();
      if (!k.empty()) line += "  [" + k + "]";
    }
    info_.layer_summary.push_back(line);
  }
}

Status ModelImpl::LoadWeights(const std::vector<ShardBytes>& shards) {
  loaded_ = false;
  std::vector<std::vector<float>> values;
  Status s = detail::DecodeWeights(manifest_, shards, src_, &values);
  if (!s) return s;
  detail::BindOptions bo;
  bo.backend = backend_;
  bo.threads = opt_.threads;
  // Aliases first: a BatchNormalization folded into the layer before it (FuseBatchNorm) is an
  // alias whose statistics that layer reads in its own Bind.
  // A shared layer's calls each bind a copy of its weights; the last use takes the values themselves.
  std::vector<int> uses(values.size(), 0);
  for (const auto& lw : layer_weights_)
    for (int idx : lw) ++uses[static_cast<size_t>(idx)];
  for (int pass = 0; pass < 2; ++pass)
    for (size_t li = 0; li < g_.layers.size(); ++li) {
      if (g_.layers[li]->IsAlias() != (pass == 0)) continue;
      std::vector<std::vector<float>> w;
      for (int idx : layer_weights_[li]) {
        const size_t i = static_cast<size_t>(idx);
        w.push_back(--uses[i] > 0 ? values[i] : std::move(values[i]));
      }
      if (!(s = g_.layers[li]->Bind(std::move(w), bo))) return s;
    }
  capacity_ = 0;  // kernels may have changed: size everything again on the next Run
  last_batch_ = 0;
  loaded_ = true;
  Summarize();
  return Status::Ok();
}

Status ModelImpl::CheckInputShape(const std::vector<int64_t>& shape) const {
  std::string want = "[N";
  for (int64_t d : g_.input_shape) want += "," + std::to_string(d);
  want += "]";
  bool ok = shape.size() == g_.input_shape.size() + 1 && shape[0] >= 1 &&
            std::equal(g_.input_shape.begin(), g_.input_shape.end(), shape.begin() + 1);
  if (!ok)
    return Status::Error(src_ + ": input shape " + detail::ShapeStr(shape) + " does not match the model's input " + want);
  // The batch Run would refuse for its activations, refused here already (callers check their
  // input before any work: a bad --batch is bad input, not a failure half-way).
  if (act_bytes_per_sample_ > 0 && static_cast<uint64_t>(shape[0]) > opt_.max_total_bytes / act_bytes_per_sample_)
    return Status::Error(src_ + ": batch " + std::to_string(shape[0]) + " needs " +
                         std::to_string(static_cast<uint64_t>(shape[0]) * act_bytes_per_sample_) +
                         " bytes of activations, over the limit of " + std::to_string(opt_.max_total_bytes) +
                         "; run smaller batches");
  return Status::Ok();
}

// The penultimate features: the input of the last layer with weights, walking back from the output
// through weightless single-input layers (an Activation after the Dense).
void ModelImpl::FindFeatures() {
  feat_ = -1;
  feat_size_ = 0;
  int i = g_.output;
  while (i >= 0) {
    const Layer& l = *g_.layers[static_cast<size_t>(i)];
    if (l.is_input || l.inputs.size() != 1) return;
    if (!l.Weights().empty()) break;
    i = l.inputs[0];
  }
  if (i < 0) return;
  const int f = g_.layers[static_cast<size_t>(i)]->inputs[0];
  if (g_.layers[static_cast<size_t>(f)]->is_input) return;  // the caller's own input buffer: not ours to hand out
  int64_t numel = 0;
  if (!detail::NumElements(g_.layers[static_cast<size_t>(f)]->out_shape, &numel) || numel <= 0) return;
  feat_ = f;
  feat_size_ = static_cast<size_t>(numel);
}

Status ModelImpl::Run(const float* input, int batch, float* output) {
  if (!loaded_) return Status::Error(src_ + ": Run before LoadWeights succeeded");
  if (!input || !output) return Status::Error(src_ + ": Run with a null input or output pointer");
  if (batch < 1) return Status::Error(src_ + ": batch must be >= 1, got " + std::to_string(batch));
  if (static_cast<uint64_t>(batch) * act_bytes_per_sample_ > opt_.max_total_bytes)
    return Status::Error(src_ + ": batch " + std::to_string(batch) + " needs " + std::to_string(batch * act_bytes_per_sample_) +
                         " bytes of activations, over the limit of " + std::to_string(opt_.max_total_bytes) + "; run smaller batches");
  // A NaN or infinite input has no defined answer, and the backends would each give a different
  // one (the reference's max/ReLU keep a NaN, the SIMD and XNNPACK ones drop it): refused on every
  // backend, naming the first bad value. One pass over the input, small next to any layer.
  const size_t in_total = static_cast<size_t>(batch) * static_cast<size_t>(in_numel_);
  for (size_t k = 0; k < in_total; ++k)
    if (!std::isfinite(input[k]))
      return Status::Error(src_ + ": input value " + std::to_string(k % static_cast<size_t>(in_numel_)) + " of sample " +
                           std::to_string(k / static_cast<size_t>(in_numel_)) + " is " +
                           (std::isnan(input[k]) ? "NaN" : "infinite") + "; inputs must be finite");
  const size_t n = g_.layers.size();
  if (batch > capacity_) {
    buffers_.resize(n);
    ptrs_.assign(n, nullptr);
    ins_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Layer& l = *g_.layers[i];
      ins_[i].assign(l.inputs.size(), nullptr);
      if (l.is_input || l.IsAlias()) continue;
      int64_t numel;
      detail::NumElements(l.out_shape, &numel);
      buffers_[i].resize(static_cast<size_t>(numel) * static_cast<size_t>(batch));
      l.Reserve(batch);
    }
    capacity_ = batch;
  }
  for (size_t i = 0; i < n; ++i) {
    Layer& l = *g_.layers[i];
    if (l.is_input) {
      ptrs_[i] = input;
      continue;
    }
    if (l.IsAlias()) {
      ptrs_[i] = ptrs_[static_cast<size_t>(l.inputs[0])];
      continue;
    }
    for (size_t k = 0; k < l.inputs.size(); ++k) ins_[i][k] = ptrs_[static_cast<size_t>(l.inputs[k])];
    l.Run(batch, ins_[i], buffers_[i].data());
    ptrs_[i] = buffers_[i].data();
  }
  std::memcpy(output, ptrs_[static_cast<size_t>(g_.output)], sizeof(float) * static_cast<size_t>(out_numel_) * batch);
  last_batch_ = batch;
  return Status::Ok();
}

}  // namespace

Status ParseLayerAlias(std::string_view text, LoadOptions* options) {
  const std::string t(text);
  if (!options) return Status::Error("--layer-alias '" + t + "': no options to fill");
  const size_t eq = t.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == t.size() || t.find('=', eq + 1) != std::string::npos)
    return Status::Error("--layer-alias '" + t + "': expected NAME=CLASS, e.g. Keras2toKeras3DepthwiseConv2D=DepthwiseConv2D");
  detail::LayerAliases& aliases = options->layer_aliases;
  aliases.emplace_back(t.substr(0, eq), t.substr(eq + 1));
  const Status s = detail::CheckLayerAliases(aliases, "--layer-alias");
  bool twice = false;  // the same alias given again: kept once
  for (size_t j = 0; s && j + 1 < aliases.size(); ++j)
    twice = twice || (aliases[j].first == aliases.back().first && aliases[j].second == aliases.back().second);
  if (!s || twice) aliases.pop_back();
  return s;
}

Status Model::Parse(std::string_view model_json, std::unique_ptr<Model>* out, const LoadOptions& options,
                    std::string_view source_name) {
  if (!out) return Status::Error(std::string(source_name) + ": Model::Parse needs an output pointer");
  out->reset();
  auto m = std::make_unique<ModelImpl>();
  Status s = m->Init(model_json, options, std::string(source_name));
  if (!s) return s;
  *out = std::move(m);
  return Status::Ok();
}

double CalibrationLogit(double p) {
  p = std::min(std::max(p, 1e-7), 1.0 - 1e-7);
  return std::log(p / (1.0 - p));
}

float ApplyTemperature(double temperature, float p_dog) {
  if (temperature == 1.0 || std::isnan(p_dog)) return p_dog;
#ifdef __EMSCRIPTEN__
  // The page's wasm computes it in float, with the expf and log1pf the layers already link
  // (logit(p) = log1p((2p - 1) / (1 - p))): double log/exp, or logf, would add libm code and tables
  // to the 150 KB page-weight budget for one call per frame. It agrees with the native double
  // result within 1e-6 (tests/web/wasm-node.test.mjs compares it with `catdog predict`).
  const float pf = std::min(std::max(p_dog, 1e-7f), 1.f - 1e-7f);
  const float zf = std::log1p((2.f * pf - 1.f) / (1.f - pf)) / static_cast<float>(temperature);
  return 1.f / (1.f + std::exp(-zf));
#else
  const double z = CalibrationLogit(static_cast<double>(p_dog)) / temperature;
  return static_cast<float>(1.0 / (1.0 + std::exp(-z)));
#endif
}

float ApplyCalibration(const ModelInfo& info, float p_dog) { return ApplyTemperature(info.temperature, p_dog); }

void MirrorLeftRight(const float* in, float* out, size_t height, size_t width, size_t channels) {
  for (size_t y = 0; y < height; ++y)
    for (size_t x = 0; x < width; ++x)
      std::copy_n(in + (y * width + x) * channels, channels, out + (y * width + (width - 1 - x)) * channels);
}

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kReference: return "reference";
    case Backend::kSimd: return "simd";
    case Backend::kXnnpack: return "xnnpack";
    case Backend::kAuto: return "auto";
  }
  return "unknown";
}

bool ParseBackend(std::string_view name, Backend* out) {
  for (Backend b : {Backend::kReference, Backend::kSimd, Backend::kXnnpack, Backend::kAuto})
    if (name == BackendName(b)) return *out = b, true;
  return false;
}

const char* FitName(Fit f) { return f == Fit::kCenterCrop ? "crop" : "stretch"; }

bool ParseFit(std::string_view name, Fit* out) {
  for (Fit f : {Fit::kStretch, Fit::kCenterCrop})
    if (name == FitName(f)) return *out = f, true;
  return false;
}

bool BackendAvailable(Backend b) {
  switch (b) {
    case Backend::kReference: return true;
    case Backend::kSimd: return kernels::SimdAvailable();
    case Backend::kXnnpack: return kernels::XnnpackAvailable();
    case Backend::kAuto: return true;
  }
  return false;
}

std::string DescribeKernels(bool* override_ignored) {
  return kernels::DescribeSimd(override_ignored) + "; xnnpack: " + (kernels::XnnpackAvailable() ? "built in" : "not built in");
}

}  // namespace catdog
