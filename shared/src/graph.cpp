#include "graph.h"

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
Status ReadEndpoints(const json& cfg, const char* key, const std::string& where, std::vector<std::string>* names) {
  names->clear();
  const json* v = jsonu::Find(cfg, key);
  if (!v || !v->is_array() || v->empty()) return Status::Error(where + ": missing or empty '" + key + "'");
  std::string n;
  int64_t ti;
  if ((*v)[0].is_string()) {
    if (!ReadHistory(*v, &n, &ti)) return Status::Error(where + ": bad '" + key + "': " + jsonu::Dump(*v, 120));
    names->push_back(n);
    return Status::Ok();
  }
  for (const json& e : *v) {
    if (!ReadHistory(e, &n, &ti)) return Status::Error(where + ": bad entry in '" + key + "': " + jsonu::Dump(e, 120));
    if (ti != 0) return Status::Error(where + ": '" + key + "' names output " + std::to_string(ti) + " of layer '" + n + "' (only single-output layers are supported)");
    names->push_back(n);
  }
  return Status::Ok();
}

// Input shape (without batch) from a layer config: batch_input_shape (Keras 2, TF.js), batch_shape
// (Keras 3) or input_shape. Returns false when none is present.
bool FindInputShape(const json& cfg, const json** dims, bool* has_batch) {
  if (const json* v = jsonu::FindNonNull(cfg, "batch_input_shape")) {
    *dims = v;
    *has_batch = true;
    return true;
  }
  if (const json* v = jsonu::FindNonNull(cfg, "batch_shape")) {
    *dims = v;
    *has_batch = true;
    return true;
  }
  if (const json* v = jsonu::FindNonNull(cfg, "input_shape")) {
    *dims = v;
    *has_batch = false;
    return true;
  }
  return false;
}

class Builder {
 public:
  Builder(const std::string& src, Graph* g) : src_(src), g_(g) {}

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

  Status MakeLayer(const json& lj, const std::vector<int>& inputs, const std::vector<std::string>& path, int* index) {
    std::string cls = ClassOf(lj), name = NameOf(lj);
    if (cls.empty()) return Status::Error(src_ + ": a layer has no class_name: " + jsonu::Dump(lj, 120));
    if (name.empty()) return Status::Error(src_ + ": a " + cls + " layer has no name: " + jsonu::Dump(lj, 120));
    std::unique_ptr<Layer> l = CreateLayer(cls);
    if (!l) return Status::Error(src_ + ": layer '" + name + "' has unsupported class '" + cls + "'");
    l->ref = {src_, name, cls};
    l->path = path;
    const json* cfg = jsonu::Find(lj, "config");
    static const json kEmpty = json::object();
    if (cfg && !cfg->is_object()) return Status::Error(l->ref.str() + ": 'config' is not an object");
    Status s = l->Configure(cfg ? *cfg : kEmpty);
    if (!s) return s;
    l->inputs = inputs;
    for (int i : inputs) l->in_shapes.push_back(g_->layers[static_cast<size_t>(i)]->out_shape);
    if (!(s = l->InferShape())) return s;
    int64_t n;
    if (!NumElements(l->out_shape, &n) || n > (int64_t(1) << 40))
      return Status::Error(l->ref.str() + ": output shape " + ShapeStr(l->out_shape) + " overflows");
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
        if (cur >= 0) continue;  // nested: the outer tensor feeds it
        const json* lcfg = jsonu::Find(lj, "config");
        const json* dims;
        bool has_batch;
        if (!lcfg || !FindInputShape(*lcfg, &dims, &has_batch))
          return Status::Error(src_ + ": InputLayer '" + lname + "' has no batch_input_shape/batch_shape");
        Status s = MakeInput(dims, has_batch, lname, path, &cur);
        if (!s) return s;
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
        bool has_batch = true;
        const json* lcfg = jsonu::Find(lj, "config");
        if (!(lcfg && FindInputShape(*lcfg, &dims, &has_batch))) {
          if (const json* b = jsonu::FindNonNull(cfg, "build_input_shape")) {
            dims = b;
          } else if (const json* bc = jsonu::Find(model, "build_config")) {
            dims = jsonu::FindNonNull(*bc, "input_shape");
          }
          has_batch = true;
        }
        if (!dims)
          return Status::Error(where + ": no input shape (no InputLayer, no batch_input_shape on layer '" + lname +
                               "', no build_input_shape)");
        Status s = MakeInput(dims, has_batch, name.empty() ? "input" : name + "_input", path, &cur);
        if (!s) return s;
      }
      Status s;
      if (IsModelClass(cls)) {
        s = BuildModel(lj, cur, path, depth + 1, &cur);
      } else {
        s = MakeLayer(lj, {cur}, path, &cur);
      }
      if (!s) return s;
    }
    *output = cur;
    return Status::Ok();
  }

  struct Pending {
    const json* layer;
    std::string name, cls;
    std::vector<std::string> refs;
  };

  Status BuildFunctional(const json&, const json& cfg, int input, std::vector<std::string> path, int depth, int* output) {
    std::string name;
    if (const json* n = jsonu::Find(cfg, "name")) jsonu::AsString(*n, &name);
    std::string where = src_ + ": model '" + name + "'";
    const json* layers = jsonu::Find(cfg, "layers");
    if (!layers || !layers->is_array() || layers->empty()) return Status::Error(where + " has no 'layers' list");
    std::vector<std::string> in_names, out_names;
    Status s = ReadEndpoints(cfg, "input_layers", where, &in_names);
    if (!s) return s;
    if (!(s = ReadEndpoints(cfg, "output_layers", where, &out_names))) return s;
    if (in_names.size() != 1)
      return Status::Error(where + " has " + std::to_string(in_names.size()) + " inputs (only single-input models are supported)");
    if (out_names.size() != 1)
      return Status::Error(where + " has " + std::to_string(out_names.size()) + " outputs (only single-output models are supported)");
    path.push_back(name);

    std::vector<Pending> pending;
    std::set<std::string> names;
    for (const json& lj : *layers) {
      Pending p{&lj, NameOf(lj), ClassOf(lj), {}};
      if (p.name.empty()) return Status::Error(where + ": a layer has no name: " + jsonu::Dump(lj, 120));
      if (!names.insert(p.name).second) return Status::Error(where + ": duplicate layer name '" + p.name + "'");
      const json* nodes = jsonu::Find(lj, "inbound_nodes");
      if (nodes && !nodes->is_array()) return Status::Error(where + ": layer '" + p.name + "': 'inbound_nodes' is not a list");
      size_t num_nodes = nodes ? nodes->size() : 0;
      if (num_nodes > 1)
        return Status::Error(where + ": layer '" + p.name + "' is called " + std::to_string(num_nodes) +
                             " times (shared layers are not supported)");
      if (num_nodes == 1) {
        const json& node = (*nodes)[0];
        std::vector<const json*> hist;
        if (node.is_object()) {  // Keras 3: {"args": [...], "kwargs": {...}}
          if (const json* args = jsonu::Find(node, "args")) CollectKerasTensors(*args, &hist);
        } else if (node.is_array()) {  // Keras 2 / TF.js: [["name", 0, 0, {}], ...]
          for (const json& h : node) hist.push_back(&h);
        } else {
          return Status::Error(where + ": layer '" + p.name + "': bad inbound node " + jsonu::Dump(node, 120));
        }
        for (const json* h : hist) {
          std::string ref;
          int64_t ti;
          if (!ReadHistory(*h, &ref, &ti))
            return Status::Error(where + ": layer '" + p.name + "': bad inbound reference " + jsonu::Dump(*h, 120));
          if (ti != 0)
            return Status::Error(where + ": layer '" + p.name + "' takes output " + std::to_string(ti) + " of '" + ref +
                                 "' (only single-output layers are supported)");
          p.refs.push_back(ref);
        }
      }
      if (p.cls != "InputLayer" && p.refs.empty())
        return Status::Error(where + ": layer '" + p.name + "' (" + p.cls + ") has no inbound nodes");
      pending.push_back(std::move(p));
    }
    if (!names.count(in_names[0])) return Status::Error(where + ": input layer '" + in_names[0] + "' is not in its layers");
    if (!names.count(out_names[0])) return Status::Error(where + ": output layer '" + out_names[0] + "' is not in its layers");
    for (const Pending& p : pending)
      for (const std::string& r : p.refs)
        if (!names.count(r))
          return Status::Error(where + ": layer '" + p.name + "' takes input from '" + r + "', which is not a layer of this model");

    // Layers come in dependency order in practice; loop until nothing moves to also accept any order.
    std::map<std::string, int> tensor_of;
    std::vector<bool> done(pending.size(), false);
    size_t left = pending.size();
    bool progress = true;
    while (left > 0 && progress) {
      progress = false;
      for (size_t i = 0; i < pending.size(); ++i) {
        if (done[i]) continue;
        const Pending& p = pending[i];
        std::vector<int> ins;
        for (const std::string& r : p.refs) {
          auto it = tensor_of.find(r);
          if (it == tensor_of.end()) break;
          ins.push_back(it->second);
        }
        if (ins.size() != p.refs.size()) continue;
        int idx = -1;
        if (p.cls == "InputLayer") {
          if (p.name != in_names[0])
            return Status::Error(where + ": InputLayer '" + p.name + "' is not the model's input (only single-input models are supported)");
          if (input >= 0) {
            idx = input;
          } else {
            const json* lcfg = jsonu::Find(*p.layer, "config");
            const json* dims;
            bool has_batch;
            if (!lcfg || !FindInputShape(*lcfg, &dims, &has_batch))
              return Status::Error(src_ + ": InputLayer '" + p.name + "' has no batch_input_shape/batch_shape");
            if (!(s = MakeInput(dims, has_batch, p.name, path, &idx))) return s;
          }
        } else if (IsModelClass(p.cls)) {
          if (ins.size() != 1)
            return Status::Error(where + ": nested model '" + p.name + "' takes " + std::to_string(ins.size()) + " inputs (only 1 is supported)");
          if (!(s = BuildModel(*p.layer, ins[0], path, depth + 1, &idx))) return s;
        } else {
          if (!(s = MakeLayer(*p.layer, ins, path, &idx))) return s;
        }
        tensor_of[p.name] = idx;
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
    *output = tensor_of[out_names[0]];
    return Status::Ok();
  }

  const std::string& src_;
  Graph* g_;
};

}  // namespace

Status BuildGraph(const json& topology, const std::string& source, Graph* graph) {
  *graph = Graph();
  const json* model = &topology;
  if (const json* mc = jsonu::FindNonNull(topology, "model_config")) model = mc;  // Keras h5-style wrapper
  std::string cls = ClassOf(*model);
  if (cls.empty())
    return Status::Error(source + ": modelTopology has no class_name (expected Sequential, Model or Functional)");
  if (!IsModelClass(cls))
    return Status::Error(source + ": modelTopology is a '" + cls + "', not a layers model (expected Sequential, Model or Functional)");
  Builder b(source, graph);
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
