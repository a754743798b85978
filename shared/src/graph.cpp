#include "graph.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

namespace catdog::detail {
namespace {

using jsonu::json;
constexpr int kMaxNesting = 32;

bool IsModelClass(const std::string& cls) { return cls == "Sequential" || cls == "Model" || cls == "Functional"; }

std::string ClassOf(const json& layer) {
  std::string cls;
  if (const json* c = jsonu::Find(layer, "class_name")) jsonu::AsString(*c, &cls);
  return cls;
}

// The layer's name: config.name (Keras 2/3, TF.js), else the entry's own "name" (functional lists).
std::string NameOf(const json& layer) {
  std::string name;
  if (const json* cfg = jsonu::Find(layer, "config"))
    if (const json* n = jsonu::Find(*cfg, "name")) jsonu::AsString(*n, &name);
  if (name.empty())
    if (const json* n = jsonu::Find(layer, "name")) jsonu::AsString(*n, &name);
  return name;
}

// A [name, node_index, tensor_index(, kwargs)] reference (Keras 2 / TF.js form).
bool ReadHistory(const json& h, std::string* name, int64_t* tensor_index) {
  if (!h.is_array() || h.empty() || !jsonu::AsString(h[0], name)) return false;
  *tensor_index = 0;
  if (h.size() >= 3 && !jsonu::AsInt64(h[2], tensor_index)) return false;
  return true;
}

// Collects the Keras 3 "__keras_tensor__" objects inside a call's args, in order.
void CollectKerasTensors(const json& j, std::vector<const json*>* out, int depth = 0) {
  if (depth > 16) return;
  if (j.is_object()) {
    std::string cls;
    const json* c = jsonu::Find(j, "class_name");
    if (c && jsonu::AsString(*c, &cls) && cls == "__keras_tensor__") {
      if (const json* cfg = jsonu::Find(j, "config"))
        if (const json* h = jsonu::Find(*cfg, "keras_history")) out->push_back(h);
      return;
    }
    for (const auto& kv : j.items()) CollectKerasTensors(kv.value(), out, depth + 1);
  } else if (j.is_array()) {
    for (const json& e : j) CollectKerasTensors(e, out, depth + 1);
  }
}

// model.json's input_layers/output_layers: [["a",0,0], ...] or (Keras 3, one tensor) ["a",0,0].
// `nodes` (optional): each endpoint's node index (which call of a shared layer).
Status ReadEndpoints(const json& cfg, const char* key, const std::string& where, std::vector<std::string>* names,
                     std::vector<int64_t>* nodes = nullptr) {
  names->clear();
  if (nodes) nodes->clear();
  auto node_of = [&](const json& h) {
    int64_t k = 0;
    if (nodes) nodes->push_back(h.size() >= 2 && jsonu::AsInt64(h[1], &k) && k >= 0 ? k : 0);
  };
  const json* v = jsonu::Find(cfg, key);
  if (!v || !v->is_array() || v->empty()) return Status::Error(where + ": missing or empty '" + key + "'");
  std::string n;
  int64_t ti;
  if ((*v)[0].is_string()) {
    if (!ReadHistory(*v, &n, &ti)) return Status::Error(where + ": bad '" + key + "': " + jsonu::Dump(*v, 120));
    names->push_back(n);
    node_of(*v);
    return Status::Ok();
  }
  for (const json& e : *v) {
    if (!ReadHistory(e, &n, &ti)) return Status::Error(where + ": bad entry in '" + key + "': " + jsonu::Dump(e, 120));
    if (ti != 0) return Status::Error(where + ": '" + key + "' names output " + std::to_string(ti) + " of layer '" + n + "' (only single-output layers are supported)");
    names->push_back(n);
    node_of(e);
  }
  return Status::Ok();
}

// The spellings of an input shape in a layer config, in the order they are looked for: Keras 2 and
// tfjs-layers (snake_case, and the camelCase tfjs-layers' own TypeScript configs and some
// converters write), Keras 3, and the per-sample forms (a Sequential's first layer, Keras 1-2).
struct ShapeKey {
  const char* key;
  bool has_batch;  // the list starts with the batch dimension
};
constexpr ShapeKey kShapeKeys[] = {{"batch_input_shape", true}, {"batchInputShape", true}, {"batch_shape", true},
                                   {"input_shape", false},      {"inputShape", false}};
constexpr const char* kShapeKeyList = "batch_input_shape, batchInputShape, batch_shape, input_shape or inputShape";

// The per-sample dims of one spelling's value (the list without its batch entry) as text, for
// comparing: each entry an integer where it is one (3 and 3.0 agree), else as JSON writes it.
// (Text, not a json copy compared with ==: that instantiates json's deep comparison, 1.6 KB of
// wasm for this one check.)
std::string SampleDims(const json& v, bool has_batch) {
  if (!v.is_array() || (has_batch && v.empty())) return jsonu::Dump(v, 1000);
  std::string out;
  for (size_t i = has_batch ? 1 : 0; i < v.size(); ++i) {
    int64_t n = 0;
    out += (jsonu::AsInt64(v[i], &n) ? std::to_string(n) : jsonu::Dump(v[i], 100)) + ",";
  }
  return out;
}

// Input shape (without batch) from a layer config, in any spelling of kShapeKeys. *found is false
// when none is present. Several spellings must agree on the per-sample shape; batch_size /
// batchSize, when given, must be a positive integer (the core runs any batch, so it is not used).
Status FindInputShape(const json& cfg, const std::string& where, const json** dims, bool* has_batch, bool* found) {
  *found = false;
  const char* first_key = nullptr;
  for (const ShapeKey& k : kShapeKeys) {
    const json* v = jsonu::FindNonNull(cfg, k.key);
    if (!v) continue;
    if (!*found) {
      *found = true;
      *dims = v;
      *has_batch = k.has_batch;
      first_key = k.key;
    } else if (SampleDims(*v, k.has_batch) != SampleDims(**dims, *has_batch)) {
      return Status::Error(where + ": '" + first_key + "' " + jsonu::Dump(**dims, 80) + " and '" + k.key + "' " +
                           jsonu::Dump(*v, 80) + " give different input shapes; keep one of them");
    }
  }
  for (const char* key : {"batch_size", "batchSize"}) {
    const json* b = jsonu::FindNonNull(cfg, key);
    int64_t n = 0;
    if (b && (!jsonu::AsInt64(*b, &n) || n < 1))
      return Status::Error(where + ": '" + key + "' " + jsonu::Dump(*b, 40) +
                           " is not a positive integer (remove it or write null: catdog runs any batch size)");
  }
  return Status::Ok();
}

// A layer's 'dtype': absent, a string, or a dtype policy object (Keras 3 DTypePolicy /
// FloatDTypePolicy, Keras 2 mixed-precision Policy: {"class_name": ..., "config": {"name": ...}}).
// The core computes in float32, as TF.js does, so any floating-point dtype or policy loads (a
// float16/bfloat16/mixed policy's weights reach it as float32 in the manifest); an integer, bool or
// string dtype, or a quantized policy, means the layer computes something else and is refused.
Status CheckDType(const json& cfg, const std::string& where) {
  const json* v = jsonu::FindNonNull(cfg, "dtype");
  if (!v) return Status::Ok();
  std::string name;
  if (v->is_object()) {
    std::string cls;
    const json* c = jsonu::Find(*v, "class_name");
    if (!c || !jsonu::AsString(*c, &cls) || (cls != "DTypePolicy" && cls != "FloatDTypePolicy" && cls != "Policy"))
      return Status::Error(where + ": 'dtype' " + jsonu::Dump(*v, 120) +
                           " is not a dtype policy catdog knows (DTypePolicy, FloatDTypePolicy or Policy); write \"dtype\": \"float32\"");
    const json* pc = jsonu::Find(*v, "config");
    const json* n = pc ? jsonu::Find(*pc, "name") : nullptr;
    if (!n || !jsonu::AsString(*n, &name))
      return Status::Error(where + ": 'dtype' policy " + jsonu::Dump(*v, 120) + " has no config.name; write \"dtype\": \"float32\"");
  } else if (!jsonu::AsString(*v, &name)) {
    return Status::Error(where + ": 'dtype' " + jsonu::Dump(*v, 80) + " is neither a string nor a dtype policy; write \"dtype\": \"float32\"");
  }
  for (const char* ok : {"float32", "float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16"})
    if (name == ok) return Status::Ok();
  return Status::Error(where + ": 'dtype' '" + name +
                       "' is not a floating-point type; catdog computes in float32 (as TF.js does) and loads float32, "
                       "float16, bfloat16, float64 and mixed_float16/mixed_bfloat16 layers: re-save the model with dtype float32");
}

// Whether `cls` is a layer class the core runs (InputLayer is not one a layer can be built as), and
// their list for messages.
bool Runs(const std::string& cls) {
  if (cls == "InputLayer") return false;
  for (const std::string& r : RegisteredLayers())
    if (r == cls) return true;
  return false;
}

std::string RunsList() {
  std::string known;
  for (const std::string& r : RegisteredLayers())
    if (r != "InputLayer") known += (known.empty() ? "" : ", ") + r;
  return known;
}

// The hint of the unsupported-class error: a custom class whose name contains a class the core runs
// (Keras2toKeras3DepthwiseConv2D) is most likely its subclass, so the alias is spelled out for it.
std::string AliasHint(const std::string& cls) {
  std::string base;
  for (const std::string& r : RegisteredLayers())
    if (r != "InputLayer" && r.size() > base.size() && cls.find(r) != std::string::npos) base = r;
  if (!base.empty())
    return "; if it is a subclass of " + base + " whose config is " + base + "'s, load it with --layer-alias " + cls + "=" +
           base + " (JS: createClassifier({layerAliases: {" + cls + ": '" + base + "'}}))";
  return " (catdog runs " + RunsList() + "; a custom subclass of one of them, with its base's config, loads with --layer-alias " + cls +
         "=BASE, or layerAliases in createClassifier)";
}

class Builder {
 public:
  Builder(const std::string& src, const LayerAliases& aliases, Graph* g) : src_(src), aliases_(aliases), g_(g) {}

  // Builds a Sequential/Model/Functional entry. `input` feeds it (-1: top level, it makes its own).
  Status BuildModel(const json& model, int input, const std::vector<std::string>& path, int depth, int* output) {
    if (depth > kMaxNesting) return Status::Error(src_ + ": models nested more than " + std::to_string(kMaxNesting) + " deep");
    std::string cls = ClassOf(model);
    const json* cfg = jsonu::Find(model, "config");
    if (!cfg) return Status::Error(src_ + ": model '" + NameOf(model) + "' (" + cls + ") has no 'config'");
    if (cls == "Sequential") return BuildSequential(model, *cfg, input, path, depth, output);
    return BuildFunctional(model, *cfg, input, path, depth, output);
  }

 private:
  std::string InputWhere(const std::string& name) const { return src_ + ": layer '" + name + "' (InputLayer)"; }

  // An InputLayer's config: its dtype, and its shape in any spelling. `nested`: the InputLayer of a
  // model nested in another, which the outer tensor feeds (its shape, if written, is not used).
  Status ReadInputLayer(const json* lcfg, const std::string& name, bool nested, const json** dims, bool* has_batch) {
    const std::string where = InputWhere(name);
    if (!lcfg || !lcfg->is_object()) {
      if (nested) return Status::Ok();
      return Status::Error(where + " has no config; add \"config\": {\"batch_input_shape\": [null, H, W, C]}");
    }
    Status s = CheckDType(*lcfg, where);
    if (!s) return s;
    bool found = false;
    if (!(s = FindInputShape(*lcfg, where, dims, has_batch, &found))) return s;
    if (!found && !nested)
      return Status::Error(where + " has no input shape: its config has no " + kShapeKeyList +
                           "; add \"batch_input_shape\": [null, H, W, C]");
    return Status::Ok();
  }

  Status MakeInput(const json* dims, bool has_batch, const std::string& name, const std::vector<std::string>& path,
                   int* index) {
    std::string where = src_ + ": input shape of '" + name + "'";
    if (!dims->is_array()) return Status::Error(where + " is not a list: " + jsonu::Dump(*dims, 80));
    Shape shape;
    for (size_t i = has_batch ? 1 : 0; i < dims->size(); ++i) {
      int64_t d;
      if (!jsonu::AsInt64((*dims)[i], &d))
        return Status::Error(where + " " + jsonu::Dump(*dims, 80) + " has an unknown or non-integer dimension " +
                             jsonu::Dump((*dims)[i], 20) + " (the core needs a fixed input size)");
      if (d < 1 || d > std::numeric_limits<int>::max())
        return Status::Error(where + " " + jsonu::Dump(*dims, 80) + " has an out-of-range dimension " + std::to_string(d));
      shape.push_back(d);
    }
    if (shape.empty()) return Status::Error(where + " " + jsonu::Dump(*dims, 80) + " is empty");
    if (g_->input >= 0)
      return Status::Error(src_ + ": a second model input '" + name + "' (only single-input models are supported)");
    auto l = CreateLayer("InputLayer");
    l->ref = {src_, name, "InputLayer"};
    l->path = path;
    l->is_input = true;
    l->out_shape = shape;
    g_->input_shape = shape;
    g_->input = static_cast<int>(g_->layers.size());
    *index = g_->input;
    g_->layers.push_back(std::move(l));
    return Status::Ok();
  }

  // The class a layer entry is built as: its own, else the user's alias for its class_name (or for
  // its Keras 3 registered_name, "package>Class").
  std::unique_ptr<Layer> Create(const json& lj, const std::string& cls, std::string* as) {
    *as = cls;
    if (std::unique_ptr<Layer> l = CreateLayer(cls)) return l;
    std::string registered;
    if (const json* r = jsonu::FindNonNull(lj, "registered_name")) jsonu::AsString(*r, &registered);
    for (const auto& [name, target] : aliases_)
      if (name == cls || (!registered.empty() && name == registered)) {
        *as = target;
        return CreateLayer(target);
      }
    return nullptr;
  }

  // `shares`: the index of the layer instance whose weights this one uses (a shared layer called
  // again), or -1.
  Status MakeLayer(const json& lj, const std::vector<int>& inputs, const std::vector<std::string>& path, int shares,
                   int* index) {
    std::string cls = ClassOf(lj), name = NameOf(lj);
    if (cls.empty()) return Status::Error(src_ + ": a layer has no class_name: " + jsonu::Dump(lj, 120));
    if (name.empty()) return Status::Error(src_ + ": a " + cls + " layer has no name: " + jsonu::Dump(lj, 120));
    std::string as;
    std::unique_ptr<Layer> l = Create(lj, cls, &as);
    if (!l) return Status::Error(src_ + ": layer '" + name + "' has unsupported class '" + cls + "'" + AliasHint(cls));
    l->ref = {src_, name, as};
    l->path = path;
    l->weights_of = shares;
    const json* cfg = jsonu::Find(lj, "config");
    static const json kEmpty = json::object();
    if (cfg && !cfg->is_object()) return Status::Error(l->ref.str() + ": 'config' is not an object");
    Status s = CheckDType(cfg ? *cfg : kEmpty, l->ref.str());
    if (!s) return s;
    if (!(s = l->Configure(cfg ? *cfg : kEmpty))) return s;
    l->inputs = inputs;
    for (int i : inputs) l->in_shapes.push_back(g_->layers[static_cast<size_t>(i)]->out_shape);
    if (!(s = l->InferShape())) return s;
    int64_t n;
    if (!NumElements(l->out_shape, &n) || n > (int64_t(1) << 40))
      return Status::Error(l->ref.str() + ": output shape " + ShapeStr(l->out_shape) + " overflows");
    if (shares >= 0) {  // a second call: the same weights must fit this call's input
      std::vector<WeightSpec> mine = l->Weights(), theirs = g_->layers[static_cast<size_t>(shares)]->Weights();
      bool same = mine.size() == theirs.size();
      for (size_t k = 0; same && k < mine.size(); ++k) same = mine[k].kind == theirs[k].kind && mine[k].shape == theirs[k].shape;
      if (!same)
        return Status::Error(l->ref.str() + ": a shared layer called on inputs of different shapes (" +
                             ShapeStr(l->in_shapes.empty() ? Shape() : l->in_shapes[0]) + " here, " +
                             ShapeStr(g_->layers[static_cast<size_t>(shares)]->in_shapes.empty()
                                          ? Shape()
                                          : g_->layers[static_cast<size_t>(shares)]->in_shapes[0]) +
                             " at its first call) needs different weights; call it on one input shape");
    }
    *index = static_cast<int>(g_->layers.size());
    g_->layers.push_back(std::move(l));
    return Status::Ok();
  }

  Status BuildSequential(const json& model, const json& cfg, int input, std::vector<std::string> path, int depth,
                         int* output) {
    std::string name;
    if (const json* n = jsonu::Find(cfg, "name")) jsonu::AsString(*n, &name);
    const json* layers = cfg.is_array() ? &cfg : jsonu::Find(cfg, "layers");
    std::string where = src_ + ": Sequential model '" + name + "'";
    if (!layers || !layers->is_array()) return Status::Error(where + " has no 'layers' list");
    if (layers->empty()) return Status::Error(where + " has no layers");
    path.push_back(name);
    std::set<std::string> names;
    int cur = input;
    for (size_t i = 0; i < layers->size(); ++i) {
      const json& lj = (*layers)[i];
      std::string cls = ClassOf(lj), lname = NameOf(lj);
      if (!names.insert(lname).second)
        return Status::Error(where + ": duplicate layer name '" + lname + "'");
      if (cls == "InputLayer") {
        if (i != 0) return Status::Error(where + ": InputLayer '" + lname + "' is not the first layer");
        const json* dims = nullptr;
        bool has_batch = true;
        Status s = ReadInputLayer(jsonu::Find(lj, "config"), lname, cur >= 0, &dims, &has_batch);
        if (!s) return s;
        if (cur >= 0) continue;  // nested: the outer tensor feeds it
        if (!(s = MakeInput(dims, has_batch, lname, path, &cur))) return s;
        continue;
      }
      if (cur < 0 && IsModelClass(cls)) {  // a nested model first: it brings its own input
        Status s = BuildModel(lj, -1, path, depth + 1, &cur);
        if (!s) return s;
        continue;
      }
      if (cur < 0) {
        // The first layer carries the input shape (Keras 2/TF.js), else the model's build shape.
        const json* dims = nullptr;
        bool has_batch = true, found = false;
        const json* lcfg = jsonu::Find(lj, "config");
        if (lcfg && lcfg->is_object()) {
          Status s = FindInputShape(*lcfg, src_ + ": layer '" + lname + "' (" + cls + ")", &dims, &has_batch, &found);
          if (!s) return s;
        }
        if (!found) {
          dims = nullptr;
          if (const json* b = jsonu::FindNonNull(cfg, "build_input_shape")) {
            dims = b;
          } else if (const json* bc = jsonu::Find(model, "build_config")) {
            dims = jsonu::FindNonNull(*bc, "input_shape");
          }
          has_batch = true;
        }
        if (!dims)
          return Status::Error(where + ": no input shape (no InputLayer, no " + kShapeKeyList + " on its first layer '" + lname +
                               "', no build_input_shape); add \"batch_input_shape\": [null, H, W, C] to layer '" + lname + "'");
        Status s = MakeInput(dims, has_batch, name.empty() ? "input" : name + "_input", path, &cur);
        if (!s) return s;
      }
      Status s;
      if (IsModelClass(cls)) {
        s = BuildModel(lj, cur, path, depth + 1, &cur);
      } else {
        s = MakeLayer(lj, {cur}, path, -1, &cur);
      }
      if (!s) return s;
    }
    *output = cur;
    return Status::Ok();
  }

  // A call's key in tensor_of: "node:name" (the node's digits end at the first ':', so no two calls share one).
  static std::string CallKey(const std::string& layer, int64_t node) { return std::to_string(node) + ":" + layer; }

  // One call of a layer: a layer entry with several inbound nodes (a shared layer) is one call per node.
  struct Ref {
    std::string layer;
    int64_t node = 0;
  };
  struct Pending {
    const json* layer;
    std::string name, cls;
    size_t node = 0;
    std::vector<Ref> refs;
  };

  // The inbound references of one node, Keras 3 ({"args": [...], "kwargs": {...}}) or Keras 2 /
  // TF.js ([["name", node, tensor, {kwargs}], ...]).
  Status ReadNode(const json& node, const std::string& where, const std::string& lname, std::vector<Ref>* refs) {
    std::vector<const json*> hist;
    if (node.is_object()) {
      if (const json* args = jsonu::Find(node, "args")) CollectKerasTensors(*args, &hist);
    } else if (node.is_array()) {
      for (const json& h : node) hist.push_back(&h);
    } else {
      return Status::Error(where + ": layer '" + lname + "': bad inbound node " + jsonu::Dump(node, 120));
    }
    for (const json* h : hist) {
      Ref r;
      int64_t ti;
      if (!ReadHistory(*h, &r.layer, &ti))
        return Status::Error(where + ": layer '" + lname + "': bad inbound reference " + jsonu::Dump(*h, 120));
      if (ti != 0)
        return Status::Error(where + ": layer '" + lname + "' takes output " + std::to_string(ti) + " of '" + r.layer +
                             "' (only single-output layers are supported)");
      if (h->is_array() && h->size() >= 2 && !(*h)[1].is_null() && (!jsonu::AsInt64((*h)[1], &r.node) || r.node < 0))
        return Status::Error(where + ": layer '" + lname + "': bad node index in inbound reference " + jsonu::Dump(*h, 120));
      refs->push_back(r);
    }
    return Status::Ok();
  }

  Status BuildFunctional(const json&, const json& cfg, int input, std::vector<std::string> path, int depth, int* output) {
    std::string name;
    if (const json* n = jsonu::Find(cfg, "name")) jsonu::AsString(*n, &name);
    std::string where = src_ + ": model '" + name + "'";
    const json* layers = jsonu::Find(cfg, "layers");
    if (!layers || !layers->is_array() || layers->empty()) return Status::Error(where + " has no 'layers' list");
    std::vector<std::string> in_names, out_names;
    std::vector<int64_t> out_nodes;
    Status s = ReadEndpoints(cfg, "input_layers", where, &in_names);
    if (!s) return s;
    if (!(s = ReadEndpoints(cfg, "output_layers", where, &out_names, &out_nodes))) return s;
    if (in_names.size() != 1)
      return Status::Error(where + " has " + std::to_string(in_names.size()) + " inputs (only single-input models are supported)");
    if (out_names.size() != 1)
      return Status::Error(where + " has " + std::to_string(out_names.size()) + " outputs (only single-output models are supported)");
    path.push_back(name);

    std::vector<Pending> pending;
    // One map type for the three maps below (each std::map instantiation is wasm code).
    std::map<std::string, int> calls;  // layer name -> its number of calls (nodes) in this model
    for (const json& lj : *layers) {
      Pending p{&lj, NameOf(lj), ClassOf(lj), 0, {}};
      if (p.name.empty()) return Status::Error(where + ": a layer has no name: " + jsonu::Dump(lj, 120));
      if (calls.count(p.name)) return Status::Error(where + ": duplicate layer name '" + p.name + "'");
      const json* nodes = jsonu::Find(lj, "inbound_nodes");
      if (nodes && !nodes->is_array()) return Status::Error(where + ": layer '" + p.name + "': 'inbound_nodes' is not a list");
      const size_t num_nodes = nodes ? nodes->size() : 0;
      calls[p.name] = static_cast<int>(std::max<size_t>(num_nodes, 1));
      if (num_nodes > 1 && IsModelClass(p.cls))
        return Status::Error(where + ": nested model '" + p.name + "' is called " + std::to_string(num_nodes) +
                             " times (a model called more than once is not supported; call its layers on each input instead)");
      if (num_nodes > 1 && p.cls == "InputLayer")
        return Status::Error(where + ": InputLayer '" + p.name + "' has " + std::to_string(num_nodes) + " inbound nodes (it has none)");
      if (num_nodes == 0) {
        if (p.cls != "InputLayer")
          return Status::Error(where + ": layer '" + p.name + "' (" + p.cls + ") has no inbound nodes");
        pending.push_back(std::move(p));
        continue;
      }
      for (size_t k = 0; k < num_nodes; ++k) {
        Pending call = p;
        call.node = k;
        if (!(s = ReadNode((*nodes)[k], where, p.name, &call.refs))) return s;
        if (p.cls != "InputLayer" && call.refs.empty())
          return Status::Error(where + ": layer '" + p.name + "' (" + p.cls + ") has no inbound nodes");
        pending.push_back(std::move(call));
      }
    }
    if (!calls.count(in_names[0])) return Status::Error(where + ": input layer '" + in_names[0] + "' is not in its layers");
    if (!calls.count(out_names[0])) return Status::Error(where + ": output layer '" + out_names[0] + "' is not in its layers");
    // A reference names a layer and the call of it (its node). A layer called once is meant whatever
    // the index says (Keras 2 numbers a nested model's call 1, after its own build); a shared layer's
    // calls are numbered as its inbound_nodes list them.
    for (Pending& p : pending)
      for (Ref& r : p.refs) {
        auto c = calls.find(r.layer);
        if (c == calls.end())
          return Status::Error(where + ": layer '" + p.name + "' takes input from '" + r.layer + "', which is not a layer of this model");
        if (c->second == 1) {
          r.node = 0;
        } else if (r.node >= static_cast<int64_t>(c->second)) {
          return Status::Error(where + ": layer '" + p.name + "' takes call " + std::to_string(r.node) + " of shared layer '" +
                               r.layer + "', which has " + std::to_string(c->second) + " calls (inbound_nodes)");
        }
      }

    // Layers come in dependency order in practice; loop until nothing moves to also accept any order.
    std::map<std::string, int> tensor_of;  // CallKey(layer, node) -> its output tensor
    std::map<std::string, int> first_instance;  // a shared layer's first built call: the others use its weights
    std::vector<bool> done(pending.size(), false);
    size_t left = pending.size();
    bool progress = true;
    while (left > 0 && progress) {
      progress = false;
      for (size_t i = 0; i < pending.size(); ++i) {
        if (done[i]) continue;
        const Pending& p = pending[i];
        std::vector<int> ins;
        for (const Ref& r : p.refs) {
          auto it = tensor_of.find(CallKey(r.layer, r.node));
          if (it == tensor_of.end()) break;
          ins.push_back(it->second);
        }
        if (ins.size() != p.refs.size()) continue;
        int idx = -1;
        if (p.cls == "InputLayer") {
          if (p.name != in_names[0])
            return Status::Error(where + ": InputLayer '" + p.name + "' is not the model's input (only single-input models are supported)");
          const json* dims = nullptr;
          bool has_batch = true;
          if (!(s = ReadInputLayer(jsonu::Find(*p.layer, "config"), p.name, input >= 0, &dims, &has_batch))) return s;
          if (input >= 0) {
            idx = input;
          } else if (!(s = MakeInput(dims, has_batch, p.name, path, &idx))) {
            return s;
          }
        } else if (IsModelClass(p.cls)) {
          if (ins.size() != 1)
            return Status::Error(where + ": nested model '" + p.name + "' takes " + std::to_string(ins.size()) + " inputs (only 1 is supported)");
          if (!(s = BuildModel(*p.layer, ins[0], path, depth + 1, &idx))) return s;
        } else {
          auto first = first_instance.find(p.name);
          if (!(s = MakeLayer(*p.layer, ins, path, first == first_instance.end() ? -1 : first->second, &idx))) return s;
          first_instance.emplace(p.name, idx);
        }
        tensor_of[CallKey(p.name, static_cast<int64_t>(p.node))] = idx;
        done[i] = true;
        --left;
        progress = true;
      }
    }
    if (left > 0) {
      std::string stuck;
      for (size_t i = 0; i < pending.size(); ++i)
        if (!done[i]) stuck += (stuck.empty() ? "'" : ", '") + pending[i].name + "'";
      return Status::Error(where + ": layers " + stuck + " depend on each other in a cycle or on layers not reachable from the input");
    }
    // The model's output: the call output_layers names (of a layer called once: that call).
    const int out_calls = calls[out_names[0]];
    const int64_t out_node = out_calls == 1 ? 0 : out_nodes[0];
    if (out_node >= static_cast<int64_t>(out_calls))
      return Status::Error(where + ": output_layers names call " + std::to_string(out_node) + " of shared layer '" + out_names[0] +
                           "', which has " + std::to_string(out_calls) + " calls (inbound_nodes)");
    *output = tensor_of[CallKey(out_names[0], out_node)];
    return Status::Ok();
  }

  const std::string& src_;
  const LayerAliases& aliases_;
  Graph* g_;
};

}  // namespace

Status CheckLayerAliases(const LayerAliases& aliases, const std::string& source) {
  for (size_t i = 0; i < aliases.size(); ++i) {
    const std::string& name = aliases[i].first;
    const std::string& target = aliases[i].second;
    const std::string what = source + ": layer alias '" + name + "=" + target + "'";
    if (name.empty() || target.empty()) return Status::Error(what + ": needs NAME=CLASS, both non-empty");
    if (!Runs(target))
      return Status::Error(what + ": '" + target + "' is not a layer class catdog runs (one of: " + RunsList() + ")");
    if (Runs(name) || name == "InputLayer" || IsModelClass(name))
      return Status::Error(what + ": '" + name + "' is a class catdog knows itself; an alias names a custom class");
    for (size_t j = 0; j < i; ++j)
      if (aliases[j].first == name && aliases[j].second != target)
        return Status::Error(what + ": '" + name + "' is also aliased to '" + aliases[j].second + "'; give one class");
  }
  return Status::Ok();
}

Status BuildGraph(const json& topology, const std::string& source, Graph* graph, const LayerAliases& aliases) {
  *graph = Graph();
  if (Status s = CheckLayerAliases(aliases, source); !s) return s;
  const json* model = &topology;
  if (const json* mc = jsonu::FindNonNull(topology, "model_config")) model = mc;  // Keras h5-style wrapper
  std::string cls = ClassOf(*model);
  if (cls.empty())
    return Status::Error(source + ": modelTopology has no class_name (expected Sequential, Model or Functional)");
  if (!IsModelClass(cls))
    return Status::Error(source + ": modelTopology is a '" + cls + "', not a layers model (expected Sequential, Model or Functional)");
  Builder b(source, aliases, graph);
  int out = -1;
  Status s = b.BuildModel(*model, -1, {}, 0, &out);
  if (!s) return s;
  if (graph->input < 0) return Status::Error(source + ": the model has no input layer");
  graph->output = out;
  return Status::Ok();
}

namespace {

std::vector<int> CountConsumers(const Graph& g) {
  std::vector<int> consumers(g.layers.size(), 0);
  for (const auto& l : g.layers)
    for (int i : l->inputs) ++consumers[static_cast<size_t>(i)];
  return consumers;
}

}  // namespace

void FuseConvPool(Graph* g) {
  const std::vector<int> consumers = CountConsumers(*g);
  const auto single_use = [&](int i) { return i != g->output && consumers[static_cast<size_t>(i)] == 1; };
  for (auto& l : g->layers) {
    if (l->ref.class_name != "MaxPooling2D" || l->inputs.size() != 1) continue;
    int c = l->inputs[0];
    if (!single_use(c)) continue;
    // Through a BatchNormalization folded into the conv (FuseBatchNorm): conv -> BN -> pool.
    Layer* prev = g->layers[static_cast<size_t>(c)].get();
    if (prev->ref.class_name == "BatchNormalization" && prev->IsAlias() && prev->inputs.size() == 1) {
      c = prev->inputs[0];
      if (!single_use(c)) continue;
    }
    Layer* conv = g->layers[static_cast<size_t>(c)].get();
    if (CanFuseMaxPool(*conv, *l)) FuseMaxPool(conv, l.get());
  }
}

void FuseBatchNorm(Graph* g) {
  const std::vector<int> consumers = CountConsumers(*g);
  for (auto& l : g->layers) {
    if (l->ref.class_name != "BatchNormalization" || l->inputs.size() != 1) continue;
    const int p = l->inputs[0];
    if (p == g->output || consumers[static_cast<size_t>(p)] != 1) continue;
    Layer* producer = g->layers[static_cast<size_t>(p)].get();
    if (CanFuseBatchNorm(*producer, *l)) FuseBatchNorm(producer, l.get());
  }
}

}  // namespace catdog::detail
